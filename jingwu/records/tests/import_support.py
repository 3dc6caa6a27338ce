"""Shared builders for the import, quarantine, export and API tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jingwu.core.models import Unit, UnitKind, User
from jingwu.core.tests.factories import Tree, make_tree, make_unit, make_user
from jingwu.records import services
from jingwu.records.models import ImportBatch, QuarantinedRow, Source, SourceRecord

# Valid resident IDs (check characters computed by core.identifiers.make_resident_id).
ZHANG = "370102198501011233"  # 历下区, 1985-01-01, male
CHEN = "370102199003070024"  # 历下区, 1990-03-07, female
LI = "370103197211300450"  # 市中区, 1972-11-30, male
ZHAO = "370203200106150884"  # 青岛市北区 (no unit in the test tree), 2001-06-15, female
BEIJING = "11010519491231002X"  # outside the province, 1949-12-31, female
BAD_CHECK = "370102198501011234"  # ZHANG with a wrong check character

HEADER = "姓名,证件号码,性别,出生日期,联系电话,住址"
PEOPLE_ROWS = [
    f"张三,{ZHANG},男,19850101,13812345678,济南市历下区泉城路1号",
    f"陈鑫,{CHEN},女,1990-03-07,,济南市历下区大明湖路2号",
    f"李喆,{LI},男,1972/11/30,+86 139 0000 1111,济南市市中区经四路3号",
]


def people_csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@dataclass
class Desk:
    """The test tree with a station that has a township code, a steward and a source."""

    tree: Tree
    station: Unit  # a station whose division_code is the township 370102001
    steward: User
    source: Source


def make_desk() -> Desk:
    tree = make_tree()
    station = make_unit("370102S09", "解放路派出所", UnitKind.STATION, tree.county_a1, division_code="370102001")
    steward = make_user("steward", [("data_steward", tree.province)])
    source = services.source_create(actor=None, key="hukou", name="户籍人口")
    return Desk(tree, station, steward, source)


def stored_counts() -> tuple[int, int, int]:
    return SourceRecord.objects.count(), ImportBatch.objects.count(), QuarantinedRow.objects.count()


def report(batch: ImportBatch) -> tuple[int, int, int, int]:
    """(read, imported, unchanged, quarantined), after checking that it balances."""
    assert batch.rows_read == batch.rows_imported + batch.rows_unchanged + batch.rows_quarantined
    return batch.rows_read, batch.rows_imported, batch.rows_unchanged, batch.rows_quarantined


def current(source: Source) -> dict[str, SourceRecord]:
    return {r.source_key: r for r in SourceRecord.objects.filter(source=source, superseded_by__isnull=True)}


def fields_of(record: SourceRecord) -> dict[str, str]:
    assert record.fields is not None
    return record.fields


def issue_codes(batch: ImportBatch) -> list[tuple[int, str, str, str]]:
    """(row, field, column, code) of every issue of the batch's quarantined rows, in file order."""
    return [(row.row_number, issue["field"], issue["column"], issue["code"])
            for row in batch.quarantined.order_by("row_number") for issue in row.issues]
