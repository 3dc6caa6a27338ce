"""The timeline of an entity: what happened to it, as every module knows it.

Each app contributes events about an entity from a ``timeline.py`` module of its own,
found the first time a timeline is asked for, so a new module (incidents, cases, fraud
reports, parcels) plugs in without editing the data centre::

    from jingwu.core import timeline

    @timeline.contributor("cases.filed")
    def filed(actor, entity_ids, limit):
        ...  # at most `limit` Events, newest first

A contributor receives the actor, the ids the entity goes by (the live one first, then
the ids merged into it, whose old references still count) and ``limit``.  The rules:

- The caller has already authorised the read of the entity and audited it with its
  purpose (one view, one audit entry).  A contributor writes no audit entry of its own.
- A contributor returns only what the actor may see: its own objects scoped with
  ``access.scope``, and any other entity outside the actor's jurisdiction neither named
  nor linked.
- It returns its ``limit`` newest events, newest first, in a fixed order, with a number
  of queries that does not grow with the entity's size.  The pages below rely on that.

Times are timezone-aware (UTC in the database); pages show them in Asia/Shanghai.  An
event known only by its date is ``all_day``, placed at midnight Asia/Shanghai.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Final
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

from jingwu.core.models import User

__all__ = ["PAGE_MAX", "PAGE_SIZE", "Contributor", "Event", "Page", "contributor", "contributors", "day", "events",
           "register", "unregister"]

PAGE_SIZE: Final = 20
PAGE_MAX: Final = 100  # events on one page
OFFSET_MAX: Final = 2_000  # deeper pages cost every contributor that many rows; past it, the page is empty


@dataclass(frozen=True)
class Event:
    at: dt.datetime  # timezone-aware
    kind: str  # stable name, "<app>.<what>": records.received, cases.filed …
    label: str  # the kind as a person reads it
    summary: str
    link: str = ""  # a page of the portal about the event, "" when none may be shown
    source: str = ""  # where the event comes from: a source system and record, a run, an analyst
    all_day: bool = False  # only the date is known; `at` is midnight Asia/Shanghai

    @property
    def local(self) -> dt.datetime:
        """``at`` in Asia/Shanghai."""
        return self.at.astimezone(_zone())


@dataclass(frozen=True)
class Page:
    events: list[Event]
    offset: int
    limit: int
    has_more: bool

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.events)


Contributor = Callable[[User, Sequence[int], int], Iterable[Event]]

_contributors: dict[str, Contributor] = {}
_discovered = False
_lock = threading.Lock()


def register(name: str, fn: Contributor) -> None:
    """Add a contributor under a unique name (its events' tie-break among equal times)."""
    known = _contributors.get(name)
    if known is not None and known is not fn and _qualname(known) != _qualname(fn):
        raise ValueError(f"timeline contributor {name!r} is registered already ({_qualname(known)})")
    _contributors[name] = fn


def unregister(name: str) -> None:
    """Remove a contributor (an app being unloaded, a test's own)."""
    _contributors.pop(name, None)


def _qualname(fn: Contributor) -> str:
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def contributor(name: str) -> Callable[[Contributor], Contributor]:
    """Decorator form of :func:`register`."""

    def decorate(fn: Contributor) -> Contributor:
        register(name, fn)
        return fn

    return decorate


def contributors() -> dict[str, Contributor]:
    """Every contributor, by name, once each installed app's ``timeline`` module is imported."""
    global _discovered
    if not _discovered:
        with _lock:
            if not _discovered:
                autodiscover_modules("timeline")
                _discovered = True
    return dict(sorted(_contributors.items()))


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day(value: dt.date) -> dt.datetime:
    """A date as the moment it began in Asia/Shanghai (for ``all_day`` events)."""
    return dt.datetime(value.year, value.month, value.day, tzinfo=_zone())


def events(actor: User, entity_ids: Sequence[int], *, offset: int = 0, limit: int = PAGE_SIZE) -> Page:
    """One page of the entity's events from every contributor, newest first.

    Each contributor gives its newest ``offset + limit + 1`` events; the page is cut from
    their merge, so it is the same page whichever contributor holds which events.  Equal
    times keep contributor-name order, then each contributor's own."""
    offset, limit = min(max(offset, 0), OFFSET_MAX), min(max(limit, 1), PAGE_MAX)
    want = offset + limit + 1
    merged: list[tuple[float, str, int, Event]] = []
    for name, fn in contributors().items():
        got = list(islice(fn(actor, entity_ids, want), want))
        for position, event in enumerate(got):
            if timezone.is_naive(event.at):
                raise ValueError(f"timeline contributor {name!r} gave a naive time for {event.kind}")
            merged.append((-event.at.timestamp(), name, position, event))
    merged.sort(key=lambda item: item[:3])
    chosen = [item[3] for item in merged[offset: offset + limit]]
    return Page(chosen, offset, limit, len(merged) > offset + limit)
