"""Which documents are searchable, declared by the apps that own them.

An app puts a ``search_documents.py`` module beside its models and calls
:func:`register` there with a :class:`DocumentType`; :func:`autodiscover` (run when
the search app is ready) imports every such module, so a new module plugs in without
editing ``jingwu.search``.  A document type knows how to build its documents from ids
in bulk and how to list every id, for a rebuild.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DocumentType", "SearchDocument", "autodiscover", "doc_type", "doc_types", "kind_labels", "register"]


@dataclass
class SearchDocument:
    """One searchable thing, in plain values; the index analyses them (analysis.py).

    ``unit_path`` is the materialised path of the unit whose jurisdiction the thing
    falls in ("" for none): searches are scoped by it.  ``entities`` are the real-world
    entities the document belongs to, for grouping results and linking to profiles."""

    doc_type: str
    id: int
    kind: str  # the facet: person, vehicle, …, incident, case …
    title: str
    unit_path: str = ""
    date: dt.datetime | None = None
    entities: Sequence[int] = ()
    names: Sequence[str] = ()  # names of people and organisations: name matching, pinyin, typos
    identifiers: Sequence[tuple[str, str]] = ()  # (kind, normalised value): looked up exactly
    addresses: Sequence[str] = ()
    text: Sequence[str] = ()  # free text, one value per source record or paragraph
    births: Sequence[str] = ()  # ISO dates
    suggest: Sequence[str] = ()  # what else the box may complete to (names always do)

    @property
    def key(self) -> str:
        return f"{self.doc_type}:{self.id}"


@dataclass(frozen=True)
class DocumentType:
    """A kind of searchable document.

    - ``build(ids)`` returns the documents of those ids that exist and are searchable
      (the others are removed from the index), with bulk queries;
    - ``all_ids()`` yields every searchable id in batches, for a rebuild;
    - ``count()`` says how many there are (the index status compares);
    - ``read_action``: the access action an actor must hold over a document's unit to
      see it in results (jingwu.core.access);
    - ``url(id)`` is the page a result links to."""

    name: str
    label: Any
    kinds: Mapping[str, Any]  # kind → label
    read_action: str
    build: Callable[[Sequence[int]], Iterable[SearchDocument]]
    all_ids: Callable[[], Iterator[Sequence[int]]]
    count: Callable[[], int]
    url: Callable[[int], str]
    batch_size: int = 2000


_TYPES: dict[str, DocumentType] = {}


def register(document_type: DocumentType) -> DocumentType:
    existing = _TYPES.get(document_type.name)
    if existing is not None and existing is not document_type:
        raise ValueError(f"search document type {document_type.name!r} is registered twice")
    clash = {k for t in _TYPES.values() if t.name != document_type.name for k in t.kinds} & set(document_type.kinds)
    if clash:
        raise ValueError(f"search kinds {sorted(clash)} are declared by two document types")
    _TYPES[document_type.name] = document_type
    return document_type


def doc_types() -> list[DocumentType]:
    return [_TYPES[name] for name in sorted(_TYPES)]


def doc_type(name: str) -> DocumentType:
    try:
        return _TYPES[name]
    except KeyError:
        raise KeyError(f"no search document type {name!r}; known: {', '.join(sorted(_TYPES)) or 'none'}") from None


def kind_labels() -> dict[str, Any]:
    """Every kind any document type gives, with its label, in registration order."""
    return {kind: label for t in doc_types() for kind, label in t.kinds.items()}


def autodiscover() -> None:
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("search_documents")
