"""The synthetic province's ground truth: who is really who.

One gzip-compressed JSON line per person, in person order:

    {"person": 17, "name": "张伟", "sex": "M", "birth_date": "1985-03-02",
     "id_number": "370102198503021234", "household_id": "…", "relation": "户主",
     "address": "山东省济南市…", "division_code": "370102001", "county_code": "370102",
     "city_code": "370100", "grid": "370102001G02", "location": [117.01, 36.65],
     "phones": ["13812345678"], "plates": ["鲁A1B234"], "accounts": ["6222…"],
     "organisations": ["91370102MA…"],
     "records": [["hukou", "HK00000000017", []], ["telecom", "TEL00000000102", ["traditional_name"]], …]}

`records` lists every (source, source key) that belongs to the person with the noise
each carries (traditional_name, name_typo, legacy_id15, id_missing, phone_format);
`organisations` are the USCCs where the person is legal representative (that
organisation's record is among the person's records). `phones` are the person's own
lines: a child without one is registered in 户籍 with the head of household's number,
a deliberate trap for linkage. Household membership is
`household_id` + `relation`. The file is a series of gzip members, one per chunk of
people, so a run that adds people appends (rewriting the last chunk if it was partial:
the file is the same however many runs wrote it); a sidecar manifest says which seed,
how many people and how many bytes are complete.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from jingwu.synthetic.people import GENERATOR_VERSION


def ground_truth_dir() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "synthetic"


def ground_truth_path(seed: int, cities: int, directory: Path | None = None) -> Path:
    return (directory or ground_truth_dir()) / f"ground_truth-seed{seed}-c{cities}.jsonl.gz"


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl.gz") + ".manifest.json")


@dataclass(frozen=True)
class Manifest:
    seed: int
    cities: int
    generator_version: int
    people: int  # lines 0 … people-1 are complete
    bytes: int  # and end at this offset
    # The last gzip member starts here: with the people of chunk_people on, which is a
    # multiple of the chunk size (a run that ends inside a chunk leaves it partial).
    chunk_people: int
    chunk_bytes: int


def read_manifest(path: Path) -> Manifest | None:
    try:
        data = json.loads(_manifest_path(path).read_text())
        return Manifest(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_manifest(path: Path, manifest: Manifest) -> None:
    target = _manifest_path(path)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(manifest)))
    os.replace(tmp, target)  # atomic: a reader never sees half a manifest


class GroundTruthWriter:
    """Appends chunks to the file, one gzip member per chunk of ``chunk_size`` people, so
    the file's bytes depend only on how many people it holds, not on the runs that wrote it.

    ``resume_from`` is the number of people the file must hold already, ``extend_to`` the
    number it is to hold. When the file holds exactly ``resume_from`` and more are to come,
    writing goes on from the start of the chunk they end in: that chunk's member is
    written again, whole (``start`` is where generation must begin). When it does not
    hold them (another seed, an interrupted run, no file), ``start`` is 0, ``rebuilt``
    says so, and the caller regenerates from the first person."""

    def __init__(self, path: Path, *, seed: int, cities: int, resume_from: int, extend_to: int,
                 chunk_size: int) -> None:
        self.path = path
        self.seed, self.cities, self.chunk_size = seed, cities, chunk_size
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = read_manifest(path)
        usable = (manifest is not None and path.exists()
                  and (manifest.seed, manifest.cities, manifest.generator_version)
                  == (seed, cities, GENERATOR_VERSION)
                  and manifest.people == resume_from and path.stat().st_size >= manifest.bytes
                  and manifest.chunk_people % chunk_size == 0
                  and manifest.chunk_people <= manifest.people <= manifest.chunk_people + chunk_size)
        self.rebuilt = not usable and resume_from > 0
        self.start, offset = 0, 0
        chunk_people, chunk_bytes = 0, 0
        if usable:
            assert manifest is not None
            if manifest.people % chunk_size == 0 or extend_to <= manifest.people:
                self.start, offset = manifest.people, manifest.bytes
                chunk_people, chunk_bytes = manifest.chunk_people, manifest.chunk_bytes
            else:  # the last chunk is partial and grows: it is written again
                self.start, offset = manifest.chunk_people, manifest.chunk_bytes
                chunk_people, chunk_bytes = self.start, offset
        self.people = self.start
        self._chunk_people, self._chunk_bytes = chunk_people, chunk_bytes
        self._file: IO[bytes] = open(path, "r+b" if offset else "wb")  # noqa: SIM115 - closed in close()
        self._file.truncate(offset)
        self._file.seek(offset)
        self._write_manifest()

    def append(self, member: bytes, people_until: int) -> None:
        """Append one gzip member holding people from ``start`` or the end of the last
        member up to (not including) ``people_until``."""
        if member:
            self._file.write(member)
            self._file.flush()
        self.people = people_until
        if people_until % self.chunk_size == 0:
            self._chunk_people, self._chunk_bytes = people_until, self._file.tell()
        self._write_manifest()

    def _write_manifest(self) -> None:
        _write_manifest(self.path, Manifest(self.seed, self.cities, GENERATOR_VERSION, self.people,
                                            self._file.tell(), self._chunk_people, self._chunk_bytes))

    def close(self) -> None:
        self._file.close()


# --- reading ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TrueRecord:
    source: str
    key: str
    noise: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TruePerson:
    person: int
    name: str
    sex: str
    birth_date: str
    id_number: str
    household_id: str
    relation: str
    address: str
    division_code: str
    county_code: str
    city_code: str
    grid: str
    location: tuple[float, float]
    phones: tuple[str, ...]
    plates: tuple[str, ...]
    accounts: tuple[str, ...]
    organisations: tuple[str, ...]
    records: tuple[TrueRecord, ...]


def _person(data: dict[str, Any]) -> TruePerson:
    return TruePerson(
        person=data["person"], name=data["name"], sex=data["sex"], birth_date=data["birth_date"],
        id_number=data["id_number"], household_id=data["household_id"], relation=data["relation"],
        address=data["address"], division_code=data["division_code"], county_code=data["county_code"],
        city_code=data["city_code"], grid=data["grid"], location=(data["location"][0], data["location"][1]),
        phones=tuple(data["phones"]), plates=tuple(data["plates"]), accounts=tuple(data["accounts"]),
        organisations=tuple(data["organisations"]),
        records=tuple(TrueRecord(s, k, tuple(n)) for s, k, n in data["records"]),
    )


def read_people(path: Path, limit: int | None = None) -> Iterator[TruePerson]:
    """The people of a ground-truth file in order (only the complete ones the manifest names)."""
    manifest = read_manifest(path)
    complete = manifest.people if manifest is not None else None
    if limit is not None:
        complete = limit if complete is None else min(complete, limit)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if complete is not None and n >= complete:
                return
            yield _person(json.loads(line))


def record_owners(path: Path) -> dict[tuple[str, str], int]:
    """(source, source key) → the person the record belongs to."""
    return {(r.source, r.key): p.person for p in read_people(path) for r in p.records}


def households(path: Path) -> dict[str, list[tuple[int, str]]]:
    """household id → [(person, relation to the head), …]."""
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for p in read_people(path):
        out[p.household_id].append((p.person, p.relation))
    return dict(out)
