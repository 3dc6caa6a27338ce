"""Reading source files: encodings, malformed CSV, spreadsheets, JSON Lines, formats.

Files are written by the tests into tmp_path, so every byte the reader sees is visible here."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jingwu.records.readers import (
    RawRow,
    ReaderError,
    count_rows,
    detect_encoding,
    detect_format,
    read_file,
)

PEOPLE = (
    "姓名,证件号码,住址\n"
    "张三,370102198501011233,济南市\n"
    "陈鑫,37010219900307002X,青岛市\n"
    "李喆,110105194912310021,北京市\n"
)
PEOPLE_ROWS = [
    RawRow(2, {"姓名": "张三", "证件号码": "370102198501011233", "住址": "济南市"}),
    RawRow(3, {"姓名": "陈鑫", "证件号码": "37010219900307002X", "住址": "青岛市"}),
    RawRow(4, {"姓名": "李喆", "证件号码": "110105194912310021", "住址": "北京市"}),
]


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def rows_of(path: Path, **options: object) -> list[RawRow]:
    with read_file(path, **options) as stream:  # type: ignore[arg-type]
        return list(stream)


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gb18030", "gb18030"),
        ("gbk", "gb18030"),  # GB18030 is a superset: the same bytes, the same text
        ("gb2312", "gb18030"),
        ("utf-16", "utf-16"),
    ],
)
def test_each_encoding_is_detected_and_read(tmp_path: Path, encoding: str, detected: str) -> None:
    # 喆 is in GBK but not in GB2312.
    text = PEOPLE.replace("喆", "哲") if encoding == "gb2312" else PEOPLE
    path = write(tmp_path, "people.csv", text, encoding)

    assert detect_encoding(path) == detected
    with read_file(path) as stream:
        assert stream.header == ("姓名", "证件号码", "住址")
        assert stream.delimiter == ","
        rows = list(stream)
    expected = (
        PEOPLE_ROWS
        if encoding != "gb2312"
        else [
            *PEOPLE_ROWS[:2],
            RawRow(4, {"姓名": "李哲", "证件号码": "110105194912310021", "住址": "北京市"}),
        ]
    )
    assert rows == expected


def test_gb18030_only_character_survives(tmp_path: Path) -> None:
    # 𠮷 (U+20BB7) is outside GBK: only GB18030's four-byte sequences encode it.
    path = write(tmp_path, "rare.csv", "姓名,住址\n𠮷野家,济南市\n张三,青岛市\n", "gb18030")
    with pytest.raises(UnicodeEncodeError):
        "𠮷".encode("gbk")

    assert detect_encoding(path) == "gb18030"
    assert rows_of(path) == [
        RawRow(2, {"姓名": "𠮷野家", "住址": "济南市"}),
        RawRow(3, {"姓名": "张三", "住址": "青岛市"}),
    ]


def test_big5_is_not_mistaken_for_gbk(tmp_path: Path) -> None:
    # Big5 bytes also decode as GB18030, into rare characters; charset-normalizer decides.
    text = "姓名,地址\n" + "".join(f"陳大文{i},臺北市中正區重慶南路一段{i}號\n" for i in range(30))
    path = write(tmp_path, "taipei.csv", text, "big5")

    assert detect_encoding(path) == "big5"
    assert rows_of(path)[0] == RawRow(2, {"姓名": "陳大文0", "地址": "臺北市中正區重慶南路一段0號"})


def test_traditional_characters_in_gbk_stay_gbk(tmp_path: Path) -> None:
    text = "姓名,地址\n" + "".join(f"陳大文{i},臺北市{i}號\n" for i in range(30))
    path = write(tmp_path, "trad.csv", text, "gbk")

    assert detect_encoding(path) == "gb18030"
    assert rows_of(path)[0] == RawRow(2, {"姓名": "陳大文0", "地址": "臺北市0號"})


def test_pure_ascii_is_utf8_and_empty_file_fails(tmp_path: Path) -> None:
    assert detect_encoding(write(tmp_path, "a.csv", "a,b\n1,2\n")) == "utf-8"
    assert detect_encoding(write(tmp_path, "empty.csv", b"")) == "utf-8"
    with pytest.raises(ReaderError, match=r"empty.csv: the file is empty \(no header row\)"):
        read_file(tmp_path / "empty.csv")


def test_explicit_encoding_wins_and_unknown_encoding_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", PEOPLE, "gbk")
    with read_file(path, encoding="gbk") as stream:
        assert stream.encoding == "gbk"
        assert list(stream) == PEOPLE_ROWS
    with pytest.raises(ReaderError, match="unknown encoding 'klingon'"):
        read_file(path, encoding="klingon")


def test_utf8_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", PEOPLE, "utf-8-sig")
    with read_file(path, encoding="utf-8") as stream:
        assert stream.header == ("姓名", "证件号码", "住址")
        assert list(stream) == PEOPLE_ROWS


def test_invalid_bytes_in_the_middle_mark_only_their_row(tmp_path: Path) -> None:
    data = "姓名,住址\n张三,济南市\n".encode() + b"\xff\xfe\xfa,bad\n" + "陈鑫,青岛市\n".encode()
    path = write(tmp_path, "bad-bytes.csv", data)

    rows = rows_of(path)

    assert rows == [
        RawRow(2, {"姓名": "张三", "住址": "济南市"}),
        RawRow(
            3,
            {"姓名": "\ufffd\ufffd\ufffd", "住址": "bad"},
            "undecodable bytes FF on line 3 (not valid utf-8)",
        ),
        RawRow(4, {"姓名": "陈鑫", "住址": "青岛市"}),
    ]


def test_gbk_bytes_after_the_detection_sample_do_not_stop_the_read(tmp_path: Path) -> None:
    # The first 64 KB are ASCII, so the file is read as UTF-8; a GBK row far below is marked.
    filler = "".join(f"name{i},city{i}\n" for i in range(8000))
    data = ("name,city\n" + filler).encode() + "张三,济南\n".encode("gbk") + b"last,row\n"
    path = write(tmp_path, "late.csv", data)
    assert detect_encoding(path) == "utf-8"

    rows = rows_of(path)

    assert len(rows) == 8002
    assert rows[-2].row_number == 8002
    assert rows[-2].problem == "undecodable bytes D5 on line 8002 (not valid utf-8)"
    assert rows[-1] == RawRow(8003, {"name": "last", "city": "row"})


def test_utf16_replacement_characters_are_reported(tmp_path: Path) -> None:
    data = codecs_utf16("姓名,住址\n张三,济南\n") + b"\x00\xd8,\x00\n\x00" + codecs_utf16("陈鑫,青岛\n")[2:]
    path = write(tmp_path, "u16.csv", data)
    rows = rows_of(path)
    assert rows[0] == RawRow(2, {"姓名": "张三", "住址": "济南"})
    assert rows[1].row_number == 3
    assert rows[1].problem == "undecodable bytes on line 3 (not valid utf-16)"
    assert rows[2] == RawRow(4, {"姓名": "陈鑫", "住址": "青岛"})


def codecs_utf16(text: str) -> bytes:
    return text.encode("utf-16")  # little-endian with a BOM on this platform


# --------------------------------------------------------------------------- malformed CSV


RAGGED = (
    "id,姓名,住址\n"
    "1,张三,济南\n"  # 2
    "2,李四\n"  # 3: a cell short
    "\n"  # 4: blank, skipped
    "3,王五,青岛,多余\n"  # 5: a cell too many
    "4,赵六,烟台,\n"  # 6: a trailing delimiter is not data
    ",,,\n"  # 7: an empty row, skipped
    '5,"陈,鑫",潍坊\n'  # 8: a quoted delimiter
    '6,"钱\n七",淄博\n'  # 9-10: a quoted line break
    '7,孙八,"unterminated\n'  # 11: the quote is never closed
)


def test_ragged_and_malformed_rows_are_yielded_with_their_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "ragged.csv", RAGGED)

    assert rows_of(path) == [
        RawRow(2, {"id": "1", "姓名": "张三", "住址": "济南"}),
        RawRow(3, {"id": "2", "姓名": "李四", "住址": None}, "row has 2 cells, header has 3"),
        RawRow(5, {"id": "3", "姓名": "王五", "住址": "青岛", "#4": "多余"}, "row has 4 cells, header has 3"),
        RawRow(6, {"id": "4", "姓名": "赵六", "住址": "烟台"}),
        RawRow(8, {"id": "5", "姓名": "陈,鑫", "住址": "潍坊"}),
        RawRow(9, {"id": "6", "姓名": "钱\n七", "住址": "淄博"}),
        RawRow(
            11,
            {"id": "7", "姓名": "孙八", "住址": '"unterminated'},
            "unterminated quote: the quoted field opened on line 11 is never closed",
        ),
    ]


def test_an_unclosed_quote_costs_one_row_not_the_rest_of_the_file(tmp_path: Path) -> None:
    text = 'id,name,city\n1,"Zhang,Jinan\n2,Li,Qingdao\n3,Wang,Yantai\n'
    path = write(tmp_path, "quote.csv", text)

    assert rows_of(path) == [
        RawRow(
            2,
            {"id": "1", "name": '"Zhang', "city": "Jinan"},
            "unterminated quote: the quoted field opened on line 2 is never closed",
        ),
        RawRow(3, {"id": "2", "name": "Li", "city": "Qingdao"}),
        RawRow(4, {"id": "3", "name": "Wang", "city": "Yantai"}),
    ]


def test_a_quote_that_closes_rows_later_is_an_unbalanced_quote(tmp_path: Path) -> None:
    # The stray quote on line 2 pairs with the one on line 4 and would swallow line 3.
    text = 'id,name,city\n1,"Zhang,Jinan\n2,Li,Qingdao\n3,Wang",Yantai,x\n4,Zhao,Weifang\n'
    path = write(tmp_path, "unbalanced.csv", text)

    rows = rows_of(path)

    assert rows[0] == RawRow(
        2,
        {"id": "1", "name": '"Zhang', "city": "Jinan"},
        "unbalanced quote: a quoted field opened on line 2 closes on line 4 (row has 4 cells, header has 3)",
    )
    assert rows[1] == RawRow(3, {"id": "2", "name": "Li", "city": "Qingdao"})
    # Read again, line 4 has a literal quote inside an unquoted cell and one cell too many.
    assert rows[2] == RawRow(
        4, {"id": "3", "name": 'Wang"', "city": "Yantai", "#4": "x"}, "row has 4 cells, header has 3"
    )
    assert rows[3] == RawRow(5, {"id": "4", "name": "Zhao", "city": "Weifang"})


def test_text_after_a_closing_quote_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, "stray.csv", 'a,b\n"x"y,z\n1,2\n')
    rows = rows_of(path)
    assert rows[0] == RawRow(2, {"a": '"x"y', "b": "z"}, "malformed CSV on line 2: ',' expected after '\"'")
    assert rows[1] == RawRow(3, {"a": "1", "b": "2"})


def test_crlf_line_endings_and_blank_lines_before_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "crlf.csv", "\r\n\r\nid,name\r\n1,张三\r\n\r\n2,李四\r\n")
    with read_file(path) as stream:
        assert stream.header == ("id", "name")
        assert list(stream) == [RawRow(4, {"id": "1", "name": "张三"}), RawRow(6, {"id": "2", "name": "李四"})]


def test_duplicate_and_empty_header_names_are_made_unique(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.csv", " 姓名 ,,姓名,\n张三,x,张叁,\n")
    with read_file(path) as stream:
        assert stream.header == ("姓名", "#2", "姓名#3")
        assert list(stream) == [RawRow(2, {"姓名": "张三", "#2": "x", "姓名#3": "张叁"})]


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    assert rows_of(write(tmp_path, "h.csv", "a,b\n")) == []


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [("\t", "people.txt"), (";", "people.csv"), ("|", "people.csv"), ("\t", "people.tsv")],
)
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str, name: str) -> None:
    text = PEOPLE.replace(",", delimiter)
    path = write(tmp_path, name, text)
    with read_file(path) as stream:
        assert stream.delimiter == delimiter
        assert list(stream) == PEOPLE_ROWS


def test_commas_inside_a_tsv_do_not_fool_the_sniffer(tmp_path: Path) -> None:
    path = write(tmp_path, "addr.txt", "name\taddress\n张三\t济南市,历下区\n李四\t青岛市,市南区\n")
    with read_file(path) as stream:
        assert stream.delimiter == "\t"
        assert next(stream) == RawRow(2, {"name": "张三", "address": "济南市,历下区"})


def test_reading_is_streamed_not_materialised(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,姓名,住址\n")
        for i in range(100_000):
            handle.write(f"{i},张三{i},山东省济南市历下区{i}号\n")
    assert path.stat().st_size > 3_000_000

    tracemalloc.start()
    try:
        count = sum(1 for _ in read_file(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 100_000
    assert peak < 1_000_000  # a few rows and buffers, not the 3 MB file


def _cells(encoding: str) -> st.SearchStrategy[str]:
    """Text a source might hold in ``encoding``: Han characters (BMP and beyond where the
    encoding has them), the characters CSV must quote, and anything else it can encode."""
    # GBK text is drawn from GB2312, the characters real GBK files are made of: a few rare
    # GBK-only characters alone also decode as Big5-HKSCS, and no detector can tell which
    # (test_import_again covers the short rare-character files we do resolve).
    codec = "gb2312" if encoding == "gbk" else "utf-8"
    han = st.characters(codec=codec, categories=["Lo"])
    special = st.sampled_from(list(",\"\n\r '|;\t\u3000·"))
    # U+FDD0 is a noncharacter the UTF-16 reader uses internally to mark undecodable bytes.
    anything = st.characters(codec=codec, exclude_categories=["Cs"], exclude_characters="\ufdd0")
    # Python's gb2312 and gbk codecs map a few GB2312 codes differently (A1A4 is ・ in one and
    # · in the other): keep what the file's own encoding writes and reads back unchanged.
    return st.text(st.one_of(han, han, special, anything).filter(lambda c: _round_trips(c, encoding)),
                   max_size=12)


def _round_trips(char: str, encoding: str) -> bool:
    try:
        return char.encode(encoding).decode(encoding) == char
    except UnicodeError:
        return False


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_csv_round_trip_of_chinese_text(tmp_path: Path, encoding: str, data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.lists(_cells(encoding), min_size=3, max_size=3), max_size=8))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["id", "甲", "乙", "丙"])
    for number, row in enumerate(rows):
        writer.writerow([str(number), *row])
    path = tmp_path / f"round-{encoding}.csv"
    path.write_bytes(buffer.getvalue().encode(encoding))

    read = rows_of(path)

    assert [row.problem for row in read] == [None] * len(rows)
    assert [[r.fields["甲"], r.fields["乙"], r.fields["丙"]] for r in read] == rows


# --------------------------------------------------------------------------- spreadsheets


def make_workbook(tmp_path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "人员"
    sheet.append(["姓名", "出生日期", "登记时间", "证件号码", "人数", "比例", "序列"])
    sheet.append(["张三", dt.date(1985, 1, 1), dt.datetime(2020, 5, 6, 14, 30), "370102198501011233", 3, 0.25, 31048])
    sheet.append([])
    sheet.append(["李四", dt.datetime(1990, 3, 7), None, "37010219900307002X", 12.0, 1.5, 32939])
    sheet.append(["王五", None, None, None, None, None, None, "溢出"])
    other = workbook.create_sheet("车辆")
    other["C3"] = "号牌号码"
    other["C4"] = "鲁A12345"
    other["C6"] = "鲁B54321"
    path = tmp_path / "people.xlsx"
    workbook.save(path)
    return path


def test_xlsx_dates_and_numbers_become_text(tmp_path: Path) -> None:
    path = make_workbook(tmp_path)

    with read_file(path) as stream:
        assert stream.format == "spreadsheet"
        assert stream.sheet == "人员"
        assert stream.header == ("姓名", "出生日期", "登记时间", "证件号码", "人数", "比例", "序列")
        rows = list(stream)

    assert rows == [
        RawRow(
            2,
            {
                "姓名": "张三",
                "出生日期": "1985-01-01",
                "登记时间": "2020-05-06T14:30:00",
                "证件号码": "370102198501011233",
                "人数": "3",
                "比例": "0.25",
                "序列": "31048",  # a date stored as a plain number: rows.py converts it for date fields
            },
        ),
        RawRow(
            4,
            {
                "姓名": "李四",
                "出生日期": "1990-03-07",
                "登记时间": None,
                "证件号码": "37010219900307002X",
                "人数": "12",
                "比例": "1.5",
                "序列": "32939",
            },
        ),
        RawRow(
            5,
            {
                "姓名": "王五",
                "出生日期": None,
                "登记时间": None,
                "证件号码": None,
                "人数": None,
                "比例": None,
                "序列": None,
                "#8": "溢出",
            },
            "row has 8 cells, header has 7",
        ),
    ]


def test_xlsx_sheet_by_name_or_index_and_row_numbers_of_an_offset_table(tmp_path: Path) -> None:
    path = make_workbook(tmp_path)
    expected = [RawRow(4, {"号牌号码": "鲁A12345"}), RawRow(6, {"号牌号码": "鲁B54321"})]
    assert rows_of(path, sheet="车辆") == expected
    assert rows_of(path, sheet=1) == expected
    with pytest.raises(ReaderError, match=r"people.xlsx: no sheet named '户籍' \(sheets: 人员, 车辆\)"):
        read_file(path, sheet="户籍")
    with pytest.raises(ReaderError, match="no sheet number 5"):
        read_file(path, sheet=5)


def test_a_broken_spreadsheet_is_a_reader_error(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.xlsx", b"PK\x03\x04 not really a zip")
    with pytest.raises(ReaderError, match=r"broken\.xlsx: not a readable spreadsheet"):
        read_file(path)


# --------------------------------------------------------------------------- JSON Lines


def test_json_lines_rows_and_broken_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"姓名": "张三", "年龄": 38, "身高": 1.75, "在册": True, "备注": None}, ensure_ascii=False),
        "",
        '{"姓名": "李四", "年龄": 40.0, "标签": ["a", "b"]}',
        '{"姓名": "王五", ',
        "[1, 2]",
        '{"姓名": "陈鑫"}',
    ]
    path = write(tmp_path, "people.jsonl", "\n".join(lines) + "\n")

    with read_file(path) as stream:
        assert stream.format == "jsonl"
        assert stream.header is None
        rows = list(stream)

    assert rows == [
        RawRow(1, {"姓名": "张三", "年龄": "38", "身高": "1.75", "在册": "true", "备注": None}),
        RawRow(3, {"姓名": "李四", "年龄": "40", "标签": '["a", "b"]'}),
        RawRow(4, {}, "not valid JSON: Expecting property name enclosed in double quotes at column 14"),
        RawRow(5, {}, "a JSON Lines row must be an object, this line holds a list"),
        RawRow(6, {"姓名": "陈鑫"}),
    ]


def test_json_lines_in_gbk_with_a_bad_line(tmp_path: Path) -> None:
    data = '{"姓名": "张三"}\n'.encode("gbk") * 3 + b'{"x": "\xff"}\n'
    path = write(tmp_path, "gbk.ndjson", data)
    rows = rows_of(path)
    assert rows[:3] == [RawRow(n, {"姓名": "张三"}) for n in (1, 2, 3)]
    assert rows[3].problem == "undecodable bytes FF on line 4 (not valid gb18030)"


def test_a_json_array_is_not_json_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "array.json", '[{"a": 1}]\n')
    with pytest.raises(ReaderError, match=r"array.json: a JSON array, not JSON Lines"):
        read_file(path)


# --------------------------------------------------------------------------- formats and counts


def test_format_from_extension_and_content(tmp_path: Path) -> None:
    entity = '{"id": "x", "schema": "Person", "properties": {"name": ["张三"]}}\n'
    assert detect_format(write(tmp_path, "a.csv", "a\n")) == "csv"
    assert detect_format(write(tmp_path, "a.TSV", "a\n")) == "csv"
    assert detect_format(write(tmp_path, "a.ndjson", '{"a": 1}\n')) == "jsonl"
    assert detect_format(write(tmp_path, "a.json", entity)) == "ftm"
    assert detect_format(write(tmp_path, "a.jsonl", entity)) == "ftm"
    assert detect_format(write(tmp_path, "a.ftm.json", entity)) == "ftm"
    assert detect_format(write(tmp_path, "a.ijson", entity)) == "ftm"
    assert detect_format(write(tmp_path, "export", b"PK\x03\x04rest")) == "spreadsheet"
    assert detect_format(write(tmp_path, "legacy", b"\xd0\xcf\x11\xe0rest")) == "spreadsheet"
    assert detect_format(write(tmp_path, "dump", '  {"a": 1}\n')) == "jsonl"
    assert detect_format(write(tmp_path, "table", "a,b\n")) == "csv"


def test_format_can_be_forced_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "people.dat", PEOPLE.replace(",", "\t"))
    with read_file(path, format="tsv") as stream:
        assert stream.delimiter == "\t"
        assert list(stream) == PEOPLE_ROWS
    with pytest.raises(ReaderError, match="unknown format 'parquet'"):
        read_file(path, format="parquet")


def test_count_rows(tmp_path: Path) -> None:
    assert count_rows(write(tmp_path, "a.csv", PEOPLE)) == 3
    assert count_rows(write(tmp_path, "b.csv", PEOPLE.rstrip("\n"))) == 3
    assert count_rows(write(tmp_path, "c.jsonl", '{"a": 1}\n{"a": 2}')) == 2
    workbook = make_workbook(tmp_path)
    assert count_rows(workbook) == 4  # the blank sheet row counts: approximate
    assert count_rows(workbook, sheet="车辆") == 3
    assert count_rows(write(tmp_path, "empty.csv", b"")) == 0


def test_closing_a_stream_early_closes_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "people.csv", PEOPLE)
    stream = read_file(path)
    assert next(stream) == PEOPLE_ROWS[0]
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
