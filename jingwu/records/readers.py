"""Read a source file row by row: CSV/TSV in any common encoding, spreadsheets (XLSX, XLS,
ODS), JSON Lines and FollowTheMoney entity streams.

Every row comes out as a :class:`RawRow` carrying the row number a person would count in
the file (the header line is row 1, so the first CSV data row is row 2) and the cells as
text.  A row the reader could not read cleanly — ragged, undecodable, broken JSON, an
unbalanced quote — is still yielded, with ``problem`` saying what is wrong, so the import
can quarantine it and keep the good rows.  Nothing here materialises the file: text files
are read line by line, and a bad line never stops the rows after it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Literal, get_args

__all__ = [
    "DELIMITERS",
    "FORMATS",
    "SAMPLE_SIZE",
    "Format",
    "RawRow",
    "ReaderError",
    "RowStream",
    "count_rows",
    "detect_encoding",
    "detect_format",
    "read_file",
]

Format = Literal["csv", "spreadsheet", "jsonl", "ftm"]
FORMATS: Final[tuple[Format, ...]] = get_args(Format)

# Names people pass for a format, beyond the canonical ones.
_FORMAT_ALIASES: Final[dict[str, Format]] = {
    "tsv": "csv",
    "txt": "csv",
    "xlsx": "spreadsheet",
    "xlsm": "spreadsheet",
    "xls": "spreadsheet",
    "ods": "spreadsheet",
    "ndjson": "jsonl",
    "json": "jsonl",
    "ijson": "ftm",
}
_FORMAT_NAMES: Final[dict[str, Format]] = {**{name: name for name in FORMATS}, **_FORMAT_ALIASES}

# Encoding and delimiter are decided from this much of the start of a file.
SAMPLE_SIZE: Final = 64 * 1024
DELIMITERS: Final = (",", "\t", ";", "|")
_SNIFF_LINES: Final = 20

# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Encodings charset-normalizer may name that GB18030 would also decode, wrongly, as Chinese.
_TRADITIONAL_ENCODINGS: Final = frozenset({"big5", "big5hkscs", "cp950"})
_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0"


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as read: cell text by column name, before any normalisation.

    ``fields`` maps header names to the cell text; a cell the row does not have is None,
    and cells beyond the header are kept under their position ("#8").  ``kind`` is set
    only by readers whose rows say what they are (FollowTheMoney entities)."""

    row_number: int
    fields: dict[str, str | None]
    problem: str | None = None
    kind: str | None = None


class ReaderError(ValueError):
    """The file as a whole cannot be read (unknown format, no header, unknown sheet …)."""


class RowStream(Iterator[RawRow]):
    """The rows of one file, plus what was learnt about the file on opening it.

    ``header`` is None for formats without one (JSON Lines, FollowTheMoney)."""

    def __init__(
        self,
        rows: Iterator[RawRow],
        *,
        path: Path,
        format: Format,
        header: tuple[str, ...] | None,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self._rows = rows
        self._close = close
        self.path = path
        self.format = format
        self.header = header
        self.encoding = encoding
        self.delimiter = delimiter
        self.sheet = sheet

    def __iter__(self) -> Iterator[RawRow]:
        # The generator itself, so a for loop does not pay for __next__ on every row.
        return self._rows

    def __next__(self) -> RawRow:
        return next(self._rows)

    def close(self) -> None:
        close_rows = getattr(self._rows, "close", None)
        if close_rows is not None:
            close_rows()
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> RowStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- entry points


def read_file(
    path: str | Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    delimiter: str | None = None,
) -> RowStream:
    """Open ``path`` and return its rows as a stream (use it as a context manager or read
    it to the end so the file is closed).  Format, encoding and delimiter are detected
    unless given; ``sheet`` picks a spreadsheet sheet by name or 0-based index."""
    path = Path(path)
    fmt = _canonical_format(format) if format else detect_format(path)
    if delimiter is None and (path.suffix.lower() == ".tsv" or (format or "").lower() == "tsv"):
        delimiter = "\t"
    if fmt == "csv":
        return _open_csv(path, encoding, delimiter)
    if fmt == "spreadsheet":
        return _open_spreadsheet(path, sheet)
    return _open_json_lines(path, encoding, fmt)


def detect_format(path: str | Path) -> Format:
    """The format of a file from its extension, or from its first bytes when the
    extension says nothing (or says .json, which may be JSON Lines or FollowTheMoney)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".ftm.json", ".ftm", ".ijson")):
        return "ftm"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        return "spreadsheet"
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_SIZE)
    if head.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
        return "spreadsheet"
    if suffix in (".jsonl", ".ndjson", ".json") or head.lstrip().startswith(b"{"):
        return "ftm" if _looks_like_ftm(head) else "jsonl"
    return "csv"


def detect_encoding(path: str | Path) -> str:
    """The text encoding of a file, decided on its first 64 KB: a BOM, else strict UTF-8,
    else GB18030 (which covers GBK and GB2312), else charset-normalizer's best guess.
    Pure ASCII counts as UTF-8."""
    with Path(path).open("rb") as handle:
        sample = handle.read(SAMPLE_SIZE)
        complete = not handle.read(1)
    return _detect_sample_encoding(sample, complete=complete)


def count_rows(path: str | Path, *, format: str | None = None, sheet: str | int | None = None) -> int:
    """About how many data rows a file holds, for progress bars: newlines for text files
    (quoted line breaks and blank lines make it approximate), the sheet height for
    spreadsheets."""
    path = Path(path)
    fmt = _canonical_format(format) if format else detect_format(path)
    if fmt == "spreadsheet":
        from python_calamine import CalamineWorkbook

        with CalamineWorkbook.from_path(str(path)) as workbook:
            chosen = (
                workbook.get_sheet_by_name(sheet) if isinstance(sheet, str) else workbook.get_sheet_by_index(sheet or 0)
            )
            return max(chosen.height - 1, 0)
    lines = 0
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last and last != b"\n":
        lines += 1
    return max(lines - 1, 0) if fmt == "csv" else lines


def _canonical_format(name: str) -> Format:
    lowered = name.lower().lstrip(".")
    if lowered in _FORMAT_NAMES:
        return _FORMAT_NAMES[lowered]
    raise ReaderError(f"unknown format {name!r} (expected one of {', '.join(FORMATS + tuple(_FORMAT_ALIASES))})")


def _looks_like_ftm(head: bytes) -> bool:
    """Whether the first JSON line is a FollowTheMoney entity (schema + properties)."""
    for line in head.splitlines():
        if line.strip():
            try:
                first = json.loads(line)
            except ValueError:
                return False
            return isinstance(first, dict) and isinstance(first.get("schema"), str) and "properties" in first
    return False


# --------------------------------------------------------------------------- encodings


def _detect_sample_encoding(sample: bytes, *, complete: bool) -> str:
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if not sample or sample.isascii():
        return "utf-8"
    # Many NULs: UTF-16/32 without a BOM, which only charset-normalizer can tell.
    if sample.count(0) * 10 > len(sample):
        return _charset_normalizer_guess(sample) or "utf-8"
    utf8_errors = _decoding_errors(sample, "utf-8", complete=complete)
    if utf8_errors == 0:
        return "utf-8"
    gb_errors = _decoding_errors(sample, "gb18030", complete=complete)
    if gb_errors == 0:
        # Big5 bytes also decode as GB18030, into rare characters; only then ask for a second opinion.
        if _mostly_common_simplified(codecs.decode(sample, "gb18030", "replace")):
            return "gb18030"
        guess = _charset_normalizer_guess(sample)
        if guess is not None and guess in _TRADITIONAL_ENCODINGS:
            # Short GBK text of rare characters also decodes as Big5: the reading with fewer
            # characters Chinese text seldom holds is the real one.
            traditional = _decode_or_none(sample, guess, complete=complete)
            if traditional is not None and _unlikely_characters(traditional) < _unlikely_characters(
                    codecs.decode(sample, "gb18030", "replace")):
                return guess
        return "gb18030"
    # A few corrupt bytes must not change the encoding of a whole file: when one of the two
    # decodes nearly everything and the other clearly does worse, it wins, and the rows
    # holding the bad bytes are marked when read.
    fewest, encoding = min((utf8_errors, "utf-8"), (gb_errors, "gb18030"))
    if fewest <= max(4, len(sample) // 100) and fewest * 10 <= max(utf8_errors, gb_errors):
        return encoding
    return _charset_normalizer_guess(sample) or "utf-8"


def _decode_or_none(sample: bytes, encoding: str, *, complete: bool) -> str | None:
    # Incremental decoding: the sample may end in the middle of a multi-byte character.
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=complete)
    except UnicodeDecodeError:
        return None


def _decodes(sample: bytes, encoding: str, *, complete: bool) -> bool:
    return _decode_or_none(sample, encoding, complete=complete) is not None


def _decoding_errors(sample: bytes, encoding: str, *, complete: bool) -> int:
    """How many undecodable byte runs the sample holds in ``encoding`` (0 = decodes)."""
    if _decodes(sample, encoding, complete=complete):
        return 0
    replaced = codecs.getincrementaldecoder(encoding)("replace").decode(sample, final=complete)
    return max(replaced.count("\ufffd"), 1)


def _mostly_common_simplified(text: str) -> bool:
    """True when most Han characters are in GB2312 (the 6,763 common simplified ones).
    Real GBK text scores near 1; Big5 read as GBK scores far lower."""
    han = [c for c in text[:20000] if "\u4e00" <= c <= "\u9fff"]
    if len(han) < 10:
        return True
    common = 0
    for char in han:
        try:
            char.encode("gb2312")
        except UnicodeEncodeError:
            continue
        common += 1
    return common >= 0.6 * len(han)


def _unlikely_characters(text: str) -> int:
    """How unlike Chinese text a reading is: Han characters that are neither common
    simplified (GB2312) nor traditional (Big5) count 1, those of the extension blocks
    (which GBK and plain Big5 never hold) 3; kana and CJK compatibility and small forms
    count 1. Chinese bytes read in the wrong encoding are full of them."""
    score = 0
    for char in text[:20000]:
        point = ord(char)
        if 0x3040 <= point <= 0x30FF or 0xFE30 <= point <= 0xFE6F or 0xFF61 <= point <= 0xFF9F:
            score += 1
        elif 0x3400 <= point <= 0x4DBF or point >= 0x20000:
            score += 3
        elif 0x4E00 <= point <= 0x9FFF or 0xF900 <= point <= 0xFAFF:
            for codec in ("gb2312", "big5"):
                try:
                    char.encode(codec)
                    break
                except UnicodeEncodeError:
                    continue
            else:
                score += 1
    return score


def _charset_normalizer_guess(sample: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return None
    return codecs.lookup(best.encoding).name


def _ascii_compatible(encoding: str) -> bool:
    """Whether the encoding writes ASCII (and so newlines, quotes, delimiters) as ASCII
    bytes: then lines can be split on b"\\n" before decoding."""
    probe = "\r\n\t ,;|\"'{}[]:0189azAZ"
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except (UnicodeEncodeError, LookupError):
        return False


def _checked_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ReaderError(f"unknown encoding {encoding!r}") from None


# --------------------------------------------------------------------------- lines

# U+FDD0 is a noncharacter, reserved by Unicode for a program's internal use: it cannot
# come from a source file's text, so it marks where decoding replaced bytes.
_SENTINEL: Final = "\ufdd0"
_MARK_UNDECODABLE: Final = "jingwu-mark-undecodable"


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\ufffd" + _SENTINEL, error.end


codecs.register_error(_MARK_UNDECODABLE, _mark_undecodable)


class _Lines:
    """Numbered, decoded lines of a text file, read one at a time.

    Lines that do not decode are decoded with U+FFFD in place of the bad bytes and their
    numbers recorded in ``undecodable``, so the rows they belong to can be marked instead of
    the whole read failing.  The CSV reader needs two more things: the lines it consumed
    for the current record (``consumed``) and a way to read some of them again
    (``pending``) after an unbalanced quote swallowed them."""

    def __init__(self, binary: IO[bytes], encoding: str) -> None:
        self.encoding = encoding
        self.undecodable: dict[int, str] = {}
        self.consumed: list[tuple[int, str]] = []
        self.pending: deque[tuple[int, str]] = deque()
        self._source = (
            self._decode_bytes(binary, encoding) if _ascii_compatible(encoding) else self._decode_text(binary, encoding)
        )

    def _decode_bytes(self, binary: IO[bytes], encoding: str) -> Iterator[tuple[int, str]]:
        bom = codecs.BOM_UTF8 if encoding == "utf-8" else b""
        for lineno, raw in enumerate(binary, 1):
            if lineno == 1 and bom and raw.startswith(bom):
                raw = raw[len(bom) :]
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                text = raw.decode(encoding, "replace")
                bad = raw[exc.start : exc.end].hex(" ").upper()
                self.undecodable[lineno] = f"undecodable bytes {bad} on line {lineno} (not valid {encoding})"
            yield lineno, text

    def _decode_text(self, binary: IO[bytes], encoding: str) -> Iterator[tuple[int, str]]:
        # UTF-16/32 cannot be split on b"\n": a text wrapper decodes, and bad bytes come out
        # as U+FFFD plus a sentinel, so a line with bad bytes is told from one holding a real U+FFFD.
        text_stream = io.TextIOWrapper(binary, encoding=encoding, errors=_MARK_UNDECODABLE, newline="")
        for lineno, text in enumerate(text_stream, 1):
            if _SENTINEL in text:
                self.undecodable[lineno] = f"undecodable bytes on line {lineno} (not valid {encoding})"
                text = text.replace(_SENTINEL, "")
            yield lineno, text

    def texts(self) -> Iterator[str]:
        """Line texts for csv.reader, recording each in ``consumed``: first the lines put
        back in ``pending``, then the rest of the file.  Putting lines back always comes
        with a fresh reader, so ``pending`` only needs draining at the start."""
        pending = self.pending
        record = self.consumed.append
        while pending:
            item = pending.popleft()
            record(item)
            yield item[1]
        for item in self._source:
            record(item)
            yield item[1]

    def numbered(self) -> Iterator[tuple[int, str, str | None]]:
        """(line number, text, problem) for line-oriented formats."""
        undecodable = self.undecodable
        for lineno, text in self._source:
            yield lineno, text, undecodable.pop(lineno, None)

    def problem_between(self, first: int, last: int) -> str | None:
        """The decoding problem of any line from ``first`` to ``last``, forgetting them."""
        problems = [self.undecodable.pop(n) for n in range(first, last + 1) if n in self.undecodable]
        return "; ".join(problems) if problems else None


# --------------------------------------------------------------------------- CSV


def _open_text(path: Path, encoding: str | None) -> tuple[IO[bytes], str, str]:
    """Open a text file, returning the binary handle, the encoding and the decoded sample."""
    binary = path.open("rb")
    try:
        sample = binary.read(SAMPLE_SIZE)
        complete = not binary.read(1)
        binary.seek(0)
        chosen = _checked_encoding(encoding) if encoding else _detect_sample_encoding(sample, complete=complete)
        if chosen == "utf-8-sig":
            chosen = "utf-8"  # _Lines drops the BOM itself
        text = codecs.getincrementaldecoder(chosen)("replace").decode(sample, final=complete)
    except BaseException:
        binary.close()
        raise
    return binary, chosen, text.lstrip("\ufeff")


def _sniff_delimiter(sample_text: str) -> str:
    """The delimiter that splits the first lines into the most consistent, widest rows."""
    lines = sample_text.splitlines(keepends=True)[:_SNIFF_LINES]
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = [row for row in csv.reader(lines, delimiter=delimiter) if row]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        agreeing = sum(1 for row in rows if len(row) == width) / len(rows)
        score = (agreeing, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _unique_header(cells: list[str]) -> tuple[str, ...]:
    """Header names stripped; an empty name becomes its position ("#3"), a repeated one
    gets its position appended ("姓名#5"), so no column is silently overwritten."""
    while cells and not cells[-1].strip():
        cells = cells[:-1]
    names: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(cells, 1):
        name = cell.strip().lstrip("\ufeff").strip()
        if not name:
            name = f"#{position}"
        elif name in seen:
            name = f"{name}#{position}"
        seen.add(name)
        names.append(name)
    return tuple(names)


def _cells_to_fields(header: tuple[str, ...], cells: list[str]) -> dict[str, str | None]:
    fields: dict[str, str | None] = dict(zip(header, cells, strict=False))
    width = len(header)
    if len(cells) < width:
        for name in header[len(cells) :]:
            fields[name] = None
    else:
        for position in range(width, len(cells)):
            fields[f"#{position + 1}"] = cells[position]
    return fields


class _CsvReader:
    def __init__(self, path: Path, encoding: str | None, delimiter: str | None) -> None:
        self.binary, self.encoding, sample_text = _open_text(path, encoding)
        try:
            self.delimiter = delimiter or _sniff_delimiter(sample_text)
            self.lines = _Lines(self.binary, self.encoding)
            self.header = self._read_header(path)
        except BaseException:
            self.binary.close()
            raise

    def _reader(self) -> Iterator[list[str]]:
        # strict: a stray quote is an error we report, not a silent merge of cells.
        return csv.reader(self.lines.texts(), delimiter=self.delimiter, strict=True)

    def _read_header(self, path: Path) -> tuple[str, ...]:
        try:
            for cells in self._reader():
                if "".join(cells).strip():
                    last_line = self.lines.consumed[-1][0]
                    self.lines.consumed.clear()
                    problem = self.lines.problem_between(1, last_line)
                    if problem:
                        raise ReaderError(f"{path.name}: the header cannot be decoded: {problem}")
                    return _unique_header(cells)
                self.lines.consumed.clear()
        except csv.Error as exc:
            raise ReaderError(f"{path.name}: the header row is malformed: {exc}") from None
        raise ReaderError(f"{path.name}: the file is empty (no header row)")

    def close(self) -> None:
        self.binary.close()

    def rows(self) -> Iterator[RawRow]:
        try:
            yield from self._rows()
        finally:
            self.close()

    def _rows(self) -> Iterator[RawRow]:
        header = self.header
        width = len(header)
        lines = self.lines
        consumed = lines.consumed
        while True:
            reader = self._reader()
            try:
                for cells in reader:
                    first = consumed[0][0]
                    if len(cells) == width and cells[0] and not cells[0].isspace() and not lines.undecodable:
                        consumed.clear()  # the common case: a well-formed row
                        yield RawRow(first, dict(zip(header, cells, strict=True)))
                        continue
                    last = consumed[-1][0]
                    if not "".join(cells).strip():
                        consumed.clear()
                        lines.problem_between(first, last)
                        continue
                    count = len(cells)
                    problem: str | None = None
                    if count != width:
                        if count > width and not "".join(cells[width:]).strip():
                            cells = cells[:width]  # a trailing delimiter, not data
                            count = width
                        elif last > first:
                            # A quote opened and closed lines later, swallowing the rows between.
                            yield self._bad_first_line(
                                f"unbalanced quote: a quoted field opened on line {first} closes on line {last}"
                                f" (row has {count} cells, header has {width})"
                            )
                            break
                        else:
                            problem = f"row has {count} cells, header has {width}"
                    consumed.clear()
                    if lines.undecodable:
                        decoding = lines.problem_between(first, last)
                        if decoding:
                            problem = f"{problem}; {decoding}" if problem else decoding
                    if count == width and problem is None:
                        yield RawRow(first, dict(zip(header, cells, strict=True)))
                    else:
                        yield RawRow(first, _cells_to_fields(header, cells), problem)
                else:
                    return
            except csv.Error as exc:
                if not consumed:
                    raise
                yield self._bad_first_line(self._describe_csv_error(exc))

    def _describe_csv_error(self, exc: csv.Error) -> str:
        first = self.lines.consumed[0][0]
        if "unexpected end of data" in str(exc):
            return f"unterminated quote: the quoted field opened on line {first} is never closed"
        return f"malformed CSV on line {self.lines.consumed[-1][0]}: {exc}"

    def _bad_first_line(self, problem: str) -> RawRow:
        """The row that starts the record as a bad row; the record's later lines are read
        again, so one stray quote costs one row and not the rest of the file."""
        lines = self.lines
        consumed = lines.consumed
        first, text = consumed[0]
        lines.pending.extendleft(reversed(consumed[1:]))
        consumed.clear()
        decoding = lines.problem_between(first, first)
        if decoding:
            problem = f"{problem}; {decoding}"
        line = text.rstrip("\r\n")
        try:
            cells = next(csv.reader([line], delimiter=self.delimiter, quoting=csv.QUOTE_NONE), [])
        except csv.Error:  # the line itself breaks the reader (a cell beyond the size limit)
            cells = line.split(self.delimiter)
        return RawRow(first, _cells_to_fields(self.header, cells), problem)


def _open_csv(path: Path, encoding: str | None, delimiter: str | None) -> RowStream:
    reader = _CsvReader(path, encoding, delimiter)
    return RowStream(
        reader.rows(),
        path=path,
        format="csv",
        header=reader.header,
        encoding=reader.encoding,
        delimiter=reader.delimiter,
        close=reader.close,
    )


# --------------------------------------------------------------------------- spreadsheets

SpreadsheetCell = int | float | str | bool | dt.time | dt.date | dt.datetime | dt.timedelta


def _cell_text(value: SpreadsheetCell) -> str | None:
    """A spreadsheet cell as text: dates as ISO, integral numbers without ".0"."""
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _open_spreadsheet(path: Path, sheet: str | int | None) -> RowStream:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except CalamineError as exc:
        raise ReaderError(f"{path.name}: not a readable spreadsheet: {exc}") from None
    open_ = [True]

    def close_workbook() -> None:
        # calamine raises when a workbook is closed twice; the stream and its rows both close it.
        if open_:
            open_.clear()
            workbook.close()

    try:
        names = workbook.sheet_names
        if sheet is None:
            sheet = 0
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise ReaderError(f"{path.name}: no sheet number {sheet} (sheets: {', '.join(names)})")
            sheet_name = names[sheet]
        elif sheet in names:
            sheet_name = sheet
        else:
            raise ReaderError(f"{path.name}: no sheet named {sheet!r} (sheets: {', '.join(names)})")
        # calamine yields rows from the top of the sheet, so position + 1 is the row number.
        numbered = enumerate(workbook.get_sheet_by_name(sheet_name).iter_rows(), 1)
        header_cells: list[str] | None = None
        for _row_number, cells in numbered:
            texts = [_cell_text(cell) or "" for cell in cells]
            if "".join(texts).strip():
                header_cells = texts
                break
        if header_cells is None:
            raise ReaderError(f"{path.name}: sheet {sheet_name!r} is empty (no header row)")
        header = _unique_header(header_cells)
    except BaseException:
        close_workbook()
        raise

    def rows() -> Iterator[RawRow]:
        width = len(header)
        try:
            for row_number, cells in numbered:
                texts = [_cell_text(cell) for cell in cells]
                filled = [i for i, text in enumerate(texts) if text is not None and text.strip()]
                if not filled:
                    continue
                problem = None
                if filled[-1] >= width:
                    problem = f"row has {filled[-1] + 1} cells, header has {width}"
                    texts = texts[: filled[-1] + 1]
                else:
                    texts = texts[:width]
                fields: dict[str, str | None] = dict(zip(header, texts, strict=False))
                for position in range(width, len(texts)):
                    fields[f"#{position + 1}"] = texts[position]
                yield RawRow(row_number, fields, problem)
        finally:
            close_workbook()

    return RowStream(rows(), path=path, format="spreadsheet", header=header, sheet=sheet_name, close=close_workbook)


# --------------------------------------------------------------------------- JSON Lines and FtM


def _json_cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _json_line_row(lineno: int, text: str, problem: str | None) -> RawRow:
    try:
        value = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
        return RawRow(lineno, {}, f"{problem}; {reason}" if problem else reason)
    if not isinstance(value, dict):
        reason = f"a JSON Lines row must be an object, this line holds a {type(value).__name__}"
        return RawRow(lineno, {}, f"{problem}; {reason}" if problem else reason)
    return RawRow(lineno, {str(key): _json_cell(cell) for key, cell in value.items()}, problem)


def _open_json_lines(path: Path, encoding: str | None, fmt: Format) -> RowStream:
    binary, chosen, sample_text = _open_text(path, encoding)
    if sample_text.lstrip().startswith("["):
        binary.close()
        raise ReaderError(f"{path.name}: a JSON array, not JSON Lines (one object per line)")
    lines = _Lines(binary, chosen)

    def numbered() -> Iterator[tuple[int, str, str | None]]:
        for lineno, text, problem in lines.numbered():
            if text.strip():
                yield lineno, text, problem

    def rows() -> Iterator[RawRow]:
        try:
            if fmt == "ftm":
                from jingwu.records.ftm import ftm_numbered_lines_to_rows

                yield from ftm_numbered_lines_to_rows(numbered())
            else:
                for lineno, text, problem in numbered():
                    yield _json_line_row(lineno, text, problem)
        finally:
            binary.close()

    return RowStream(rows(), path=path, format=fmt, header=None, encoding=chosen, close=binary.close)
