"""`jingwu import` and `jingwu sources` from the command line."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from jingwu.core.models import AuditEntry
from jingwu.records.models import ImportBatch, Source
from jingwu.records.tests.import_support import BAD_CHECK, PEOPLE_ROWS, Desk, make_desk, people_csv, write

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def desk(db: None) -> Desk:
    return make_desk()


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_two_files_each_with_its_balanced_report(desk: Desk, tmp_path: Path) -> None:
    first = write(tmp_path / "a.csv", people_csv(*PEOPLE_ROWS, f"周八,{BAD_CHECK},男,,,", "王五"), "gb18030")
    second = write(tmp_path / "b.csv", people_csv(*PEOPLE_ROWS))

    out = run("import", "--source", "hukou", "--kind", "person", "--language", "en", str(first), str(second))

    a, b = ImportBatch.objects.order_by("pk")
    assert out == (
        f"{first}: batch #{a.pk} (hukou, csv, gb18030): read 5 = imported 3 + unchanged 0 + quarantined 2\n"
        "  row 5, column 证件号码 (id_number): check character is '4', expected '3'\n"
        "  row 6: row has 1 cells, header has 6\n"
        f"{second}: batch #{b.pk} (hukou, csv, utf-8): read 3 = imported 0 + unchanged 3 + quarantined 0\n")
    assert [e.actor_username for e in AuditEntry.objects.filter(action="records.import")] == ["", ""]


def test_only_the_first_reasons_are_printed(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", people_csv(*[f"周{n},{BAD_CHECK},男,,," for n in range(5)]))
    out = run("import", "--source", "hukou", "--kind", "person", "--show", "2", "--label", "五个坏行",
              "--language", "en", str(path))
    batch = ImportBatch.objects.get()
    assert batch.label == "五个坏行"
    assert out.splitlines()[1:] == [
        "  row 2, column 证件号码 (id_number): check character is '4', expected '3'",
        "  row 3, column 证件号码 (id_number): check character is '4', expected '3'",
        f"  … 3 more quarantined rows: jingwu quarantine list --batch {batch.pk}",
    ]


def test_a_mapping_file_and_a_user(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", people_csv(*PEOPLE_ROWS))
    out = run("import", "--source", "hukou", "--mapping", str(FIXTURES / "person_mapping.toml"), "--user", "steward",
              str(path))
    assert out.endswith("read 3 = imported 3 + unchanged 0 + quarantined 0\n")
    assert AuditEntry.objects.get(action="records.import").actor_username == "steward"


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "telecom", "--kind", "person"],
     "unknown source 'telecom'; known sources: hukou (add one with `jingwu sources add KEY NAME`)"),
    (["--source", "hukou"], "say what the file holds: a kind or a mapping file"),
    (["--source", "hukou", "--kind", "person", "--user", "nobody"], "no user 'nobody'"),
])
def test_refusals_name_the_problem(desk: Desk, tmp_path: Path, args: list[str], message: str) -> None:
    path = write(tmp_path / "a.csv", people_csv(*PEOPLE_ROWS))
    with pytest.raises(CommandError) as caught:
        run("import", *args, str(path))
    assert str(caught.value).endswith(message)
    assert ImportBatch.objects.count() == 0


def test_a_broken_mapping_file_is_refused(desk: Desk, tmp_path: Path) -> None:
    mapping = write(tmp_path / "m.toml", 'kind = "person"\nkey = "证件号码"\n[fields]\nnmae = "姓名"\n')
    with pytest.raises(CommandError, match=r"mapping .*m\.toml: fields\.nmae: unknown field for kind person"):
        run("import", "--source", "hukou", "--mapping", str(mapping), str(tmp_path / "a.csv"))


def test_sources_list_and_add(desk: Desk, tmp_path: Path) -> None:
    run("import", "--source", "hukou", "--kind", "person", str(write(tmp_path / "a.csv", people_csv(*PEOPLE_ROWS))))
    assert run("sources", "add", "telecom", "电信实名登记", "--trust", "40") == (
        "added source telecom (电信实名登记), trust rank 40\n")
    assert run("sources", "list") == "key\tname\ttrust\trecords\tbatches\tpartner\nhukou\t户籍人口\t50\t3\t1\t-\n" \
                                     "telecom\t电信实名登记\t40\t0\t0\t-\n"
    with pytest.raises(CommandError, match="source 'telecom' already exists"):
        run("sources", "add", "telecom", "again")
    with pytest.raises(CommandError, match="source key 'Tele Com'"):
        run("sources", "add", "Tele Com", "x")
    assert Source.objects.count() == 2
