"""Why a row was quarantined, in a form every language can render.

Each reason a row can fail for has a key (``resident_id.check_char_mismatch``), a
message in Simplified Chinese (the msgid; the English one is its translation) and the
parameters it names. :func:`explain` finds the reason and its parameters in the English
sentence the validators write (core.identifiers, rows.py, the readers), so a quarantined
row stores {code, message, reason, params}: the message for logs and the API, the reason
and parameters for the page and the CLI, in the viewer's language. Rows stored before
reasons existed have only the message; :func:`explain_stored` reads it the same way.

Nothing here imports Django (worker processes use it); selectors.issue_text translates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any, Final


def gettext_noop(message: str) -> str:
    """Marks a msgid for `makemessages`; translated when shown (selectors.issue_text)."""
    return message


@dataclass(frozen=True, slots=True)
class Reason:
    key: str
    scope: str  # a field type (rows.py normalisers), "row" (the row as a whole) or "reader"
    code: str  # the issue code the validator gives
    pattern: re.Pattern[str]  # matches the English sentence whole, naming the parameters
    msgid: str


# Identifier validators share some sentences.
_IDENTIFIER_TYPES: Final = ("resident_id", "phone", "plate", "uscc", "bank_card")
_EMPTY: Final = gettext_noop("规范化后没有剩下任何字符")
_CHECK_CHAR: Final = gettext_noop("校验码为“%(given)s”，应为“%(expected)s”")

_TABLE: Final[tuple[tuple[str, str, str, str, str], ...]] = (
    # (key, scope, code, English sentence as a regular expression, Chinese msgid)
    ("name.name_digits_only", "name", "name_digits_only", r"a name cannot be only digits",
     gettext_noop("姓名不能只有数字")),
    ("name.name_no_letters", "name", "name_no_letters", r"a name needs at least one letter",
     gettext_noop("姓名至少要有一个文字")),
    ("date.bad_excel_serial", "date", "bad_excel_serial", r"Excel serial (?P<serial>\S+) is before 1900-01-01",
     gettext_noop("Excel 日期序号 %(serial)s 早于 1900-01-01")),
    ("date.excel_serial_60", "date", "bad_excel_serial",
     r"Excel serial 60 is 1900-02-29, a day that does not exist \(the Lotus leap-year bug\)",
     gettext_noop("Excel 日期序号 60 是不存在的 1900-02-29（Lotus 的闰年错误）")),
    ("date.not_a_date", "date", "not_a_date", r"'(?P<value>.*)' is not a date in any of the formats (?P<formats>.+)",
     gettext_noop("“%(value)s”不是日期，可用的格式：%(formats)s")),
    ("date.date_before_1900", "date", "date_before_1900", r"(?P<date>\S+) is before 1900",
     gettext_noop("%(date)s 早于 1900 年")),
    ("date.future_date", "date", "future_date", r"(?P<date>\S+) is in the future",
     gettext_noop("%(date)s 是将来的日期")),
    ("sex.unknown_sex", "sex", "unknown_sex", r"'(?P<value>.*)' is not a sex value \(expected 男/女, M/F or 1/2\)",
     gettext_noop("“%(value)s”不是性别（应为 男/女、M/F 或 1/2）")),
    ("number.not_a_number", "number", "not_a_number", r"'(?P<value>.*)' is not a number",
     gettext_noop("“%(value)s”不是数字")),
    ("number.out_of_range", "number", "out_of_range", r"(?P<value>\S+) is outside (?P<low>\S+)\.\.(?P<high>\S+)",
     gettext_noop("%(value)s 超出 %(low)s..%(high)s 的范围")),
    ("division_code.bad_division_code", "division_code", "bad_division_code",
     r"'(?P<value>.*)' is not a 6-, 9- or 12-digit division code",
     gettext_noop("“%(value)s”不是 6、9 或 12 位的行政区划代码")),
    ("division_code.bad_province", "division_code", "bad_division_code",
     r"(?P<prefix>\S+) is not a province-level code", gettext_noop("%(prefix)s 不是省级行政区划代码")),
    ("vin.bad_vin", "vin", "bad_vin", r"a VIN has 17 letters and digits, without I, O and Q",
     gettext_noop("车辆识别代号应为 17 位字母和数字，不含 I、O、Q")),
    ("resident_id.invalid_chars", "resident_id", "invalid_chars", r"expected 17 digits followed by a digit or X",
     gettext_noop("应为 17 位数字加一位数字或 X")),
    ("resident_id.invalid_chars_15", "resident_id", "invalid_chars", r"a 15-character ID must be all digits",
     gettext_noop("15 位身份证号必须全是数字")),
    ("resident_id.bad_length", "resident_id", "bad_length",
     r"expected 18 \(or legacy 15\) characters, got (?P<length>\d+)",
     gettext_noop("应为 18 位（或旧版 15 位），实为 %(length)s 位")),
    ("resident_id.bad_province", "resident_id", "bad_province", r"(?P<prefix>\S+) is not a province-level code",
     gettext_noop("%(prefix)s 不是省级行政区划代码")),
    ("resident_id.invalid_date", "resident_id", "invalid_date", r"(?P<digits>\S+) is not a real date",
     gettext_noop("出生日期 %(digits)s 不是真实的日期")),
    ("resident_id.date_before_1900", "resident_id", "date_before_1900",
     r"birth year (?P<year>\d+) is before (?P<earliest>\d+)", gettext_noop("出生年份 %(year)s 早于 %(earliest)s 年")),
    ("resident_id.future_date", "resident_id", "future_date", r"birth date (?P<date>\S+) is in the future",
     gettext_noop("出生日期 %(date)s 是将来的日期")),
    ("resident_id.check_char_mismatch", "resident_id", "check_char_mismatch",
     r"check character is '(?P<given>.)', expected '(?P<expected>.)'", _CHECK_CHAR),
    ("phone.invalid_chars", "phone", "invalid_chars", r"a phone number may only hold digits and a leading \+",
     gettext_noop("电话号码只能有数字和开头的 +")),
    ("phone.unparseable", "phone", "unparseable", r"not recognisable as a phone number",
     gettext_noop("认不出是电话号码")),
    ("phone.not_cn", "phone", "not_cn", r"country code \+(?P<country>\d+) is not China \(\+86\)",
     gettext_noop("国家代码 +%(country)s 不是中国（+86）")),
    ("phone.not_mobile", "phone", "not_mobile", r"not a mobile number \(fixed line or service number\)",
     gettext_noop("不是手机号码（是固定电话或服务号码）")),
    ("phone.bad_length", "phone", "bad_length", r"a mobile number has 11 digits, got (?P<length>\d+)",
     gettext_noop("手机号码应为 11 位，实为 %(length)s 位")),
    ("phone.invalid_number", "phone", "invalid_number", r"not an allocated mobile number range",
     gettext_noop("不是已分配的手机号段")),
    ("plate.bad_length", "plate", "bad_length", r"expected 7 \(or 8 for new-energy\) characters, got (?P<length>\d+)",
     gettext_noop("号牌应为 7 位（新能源 8 位），实为 %(length)s 位")),
    ("plate.unknown_province", "plate", "unknown_province", r"'(?P<province>.)' is not a province abbreviation",
     gettext_noop("“%(province)s”不是省份简称")),
    ("plate.forbidden_letter", "plate", "forbidden_letter", r"letters I and O are not used on plates",
     gettext_noop("号牌不使用字母 I 和 O")),
    ("plate.bad_issuer", "plate", "bad_issuer", r"issuer '(?P<issuer>.)' must be a letter A-Z other than I and O",
     gettext_noop("发牌机关代号“%(issuer)s”应为 I、O 以外的字母 A–Z")),
    ("plate.bad_special_serial", "plate", "bad_serial", r"a special plate has 4 letters/digits before its suffix",
     gettext_noop("专用号牌在后缀前应有 4 位字母或数字")),
    ("plate.bad_serial", "plate", "bad_serial", r"an ordinary plate has 5 letters/digits after the issuer",
     gettext_noop("普通号牌在发牌机关代号后应有 5 位字母或数字")),
    ("plate.bad_new_energy_serial", "plate", "bad_new_energy_serial",
     r"a new-energy serial is D/F-class letter \+ letter/digit \+ 4 digits, or 5 digits \+ D/F-class letter",
     gettext_noop("新能源号牌序号应为 D/F 类字母加一位字母或数字再加 4 位数字，或 5 位数字加 D/F 类字母")),
    ("uscc.bad_length", "uscc", "bad_length", r"expected 18 characters, got (?P<length>\d+)",
     gettext_noop("统一社会信用代码应为 18 位，实为 %(length)s 位")),
    ("uscc.invalid_chars", "uscc", "invalid_chars", r"characters '(?P<chars>[^']*)' are not in the USCC charset",
     gettext_noop("字符“%(chars)s”不在统一社会信用代码的字符集中")),
    ("uscc.check_char_mismatch", "uscc", "check_char_mismatch",
     r"check character is '(?P<given>.)', expected '(?P<expected>.)'", _CHECK_CHAR),
    ("bank_card.invalid_chars", "bank_card", "invalid_chars", r"a card or account number holds digits only",
     gettext_noop("卡号或账号只能有数字")),
    ("bank_card.bad_length", "bank_card", "bad_length", r"expected 12-19 digits, got (?P<length>\d+)",
     gettext_noop("应为 12–19 位数字，实为 %(length)s 位")),
    *((f"{kind}.empty", kind, "empty", r"no characters left after normalisation", _EMPTY)
      for kind in _IDENTIFIER_TYPES),
    # The row as a whole (rows.py, prepare.py, the quarantine retry).
    ("row.wrong_kind", "row", "wrong_kind", r"a (?P<kind>\w+) record, but the mapping is for (?P<expected>\w+)",
     gettext_noop("这是%(kind)s记录，但映射是%(expected)s的")),
    ("row.missing_key", "row", "missing_key", r"missing, and it is part of the source key",
     gettext_noop("缺失，而它是来源主键的一部分")),
    ("row.missing_required", "row", "missing_required", r"missing, and a (?P<kind>\w+) record needs it",
     gettext_noop("缺失，而%(kind)s记录必须有此项")),
    ("row.key_too_long", "row", "key_too_long", r"the source key is (?P<length>\d+) characters, at most (?P<max>\d+)",
     gettext_noop("来源主键有 %(length)s 个字符，最多 %(max)s 个")),
    ("row.unstorable_character", "row", "unstorable_character",
     r"holds a NUL or unpaired surrogate character, which cannot be stored",
     gettext_noop("含有无法存储的 NUL 字符或孤立的代理字符")),
    ("row.extra_cells", "row", "extra_cells",
     r"cells beyond the header \((?P<cells>.*)\): clear them or move the values into their columns",
     gettext_noop("表头之外还有单元格（%(cells)s）：请清空，或把值移到所属的列")),
    # What a reader found wrong with a row (readers.py, ftm.py); a malformed row has one or more.
    ("reader.ragged", "reader", "", r"row has (?P<cells>\d+) cells, header has (?P<width>\d+)",
     gettext_noop("该行有 %(cells)s 个单元格，表头有 %(width)s 列")),
    ("reader.unbalanced_quote", "reader", "",
     r"unbalanced quote: a quoted field opened on line (?P<first>\d+) closes on line (?P<last>\d+) "
     r"\(row has (?P<cells>\d+) cells, header has (?P<width>\d+)\)",
     gettext_noop("引号不配对：第 %(first)s 行开始的带引号字段到第 %(last)s 行才结束"
                  "（该行有 %(cells)s 个单元格，表头有 %(width)s 列）")),
    ("reader.unterminated_quote", "reader", "",
     r"unterminated quote: the quoted field opened on line (?P<line>\d+) is never closed",
     gettext_noop("引号没有闭合：第 %(line)s 行开始的带引号字段一直没有结束")),
    ("reader.malformed_csv", "reader", "", r"malformed CSV on line (?P<line>\d+): (?P<error>.+)",
     gettext_noop("第 %(line)s 行不是合规的 CSV：%(error)s")),
    ("reader.undecodable_bytes", "reader", "",
     r"undecodable bytes (?P<bytes>[0-9A-F ]+) on line (?P<line>\d+) \(not valid (?P<encoding>\S+)\)",
     gettext_noop("第 %(line)s 行有无法解码的字节 %(bytes)s（不是有效的 %(encoding)s）")),
    ("reader.undecodable_line", "reader", "",
     r"undecodable bytes on line (?P<line>\d+) \(not valid (?P<encoding>\S+)\)",
     gettext_noop("第 %(line)s 行有无法解码的字节（不是有效的 %(encoding)s）")),
    ("reader.not_json", "reader", "", r"not valid JSON: (?P<error>.+) at column (?P<column>\d+)",
     gettext_noop("不是有效的 JSON：%(error)s（第 %(column)s 个字符）")),
    ("reader.json_not_object", "reader", "", r"a JSON Lines row must be an object, this line holds a (?P<type>\w+)",
     gettext_noop("JSON Lines 的每一行都应是对象，这一行是 %(type)s")),
    ("reader.ftm_not_object", "reader", "", r"an FtM entity must be a JSON object, this line holds a (?P<type>\w+)",
     gettext_noop("FtM 实体应是 JSON 对象，这一行是 %(type)s")),
    ("reader.ftm_invalid", "reader", "", r"not an FtM entity: (?P<error>.+)", gettext_noop("不是 FtM 实体：%(error)s")),
    ("reader.ftm_schema", "reader", "", r"schema (?P<schema>\S+) is not a record jingwu imports \((?P<imported>.+)\)",
     gettext_noop("模式 %(schema)s 不是 jingwu 导入的记录（可导入：%(imported)s）")),
    ("reader.ftm_no_id", "reader", "", r"the entity has no id", gettext_noop("实体没有 id")),
    # A reader's sentence this table does not know yet: shown as written.
    ("reader.other", "reader", "", r"(?P<text>.+)", gettext_noop("%(text)s")),
)

REASONS: Final[dict[str, Reason]] = {
    key: Reason(key, scope, code, re.compile(pattern), msgid) for key, scope, code, pattern, msgid in _TABLE
}
_BY_SCOPE_AND_CODE: Final[dict[tuple[str, str], tuple[Reason, ...]]] = {}
for _reason in REASONS.values():
    _BY_SCOPE_AND_CODE[(_reason.scope, _reason.code)] = (*_BY_SCOPE_AND_CODE.get((_reason.scope, _reason.code), ()),
                                                         _reason)

# A malformed row's reason holds its reader problems: {"problems": [{"reason", "params"}, …]}.
MALFORMED_ROW: Final = "row.malformed_row"
# How problems are joined in the sentences readers write.
_PROBLEM_JOINER: Final = "; "

Explained = tuple[str, dict[str, Any]]


def explain(scope: str, code: str, sentence: str) -> Explained | None:
    """(reason key, parameters) of a validator's English sentence, or None if unknown."""
    for reason in _BY_SCOPE_AND_CODE.get((scope, code), ()):
        found = reason.pattern.fullmatch(sentence)
        if found is not None:
            return reason.key, found.groupdict()
    return None


def explain_problems(problem: str) -> Explained:
    """The reason of a malformed row from its readers' sentence ("a; b")."""
    parts = []
    for part in problem.split(_PROBLEM_JOINER):
        for reason in _BY_SCOPE_AND_CODE[("reader", "")]:
            found = reason.pattern.fullmatch(part)
            if found is not None:
                parts.append({"reason": reason.key, "params": found.groupdict()})
                break
    return MALFORMED_ROW, {"problems": parts}


def where(row_number: int, column: str, field: str) -> str:
    """The place an issue's sentence starts with ("row 3, column 证件号码 (id_number)")."""
    if not column:
        return f"row {row_number}"
    return f"row {row_number}, column {column} ({field})" if field else f"row {row_number}, column {column}"


def explain_stored(issue: MappingABC[str, Any], row_number: int, scopes: Iterable[str]) -> Explained | None:
    """The reason of an issue stored without one (before reasons were kept): the sentence
    after its place, read in each of ``scopes`` (field types the field may have, "row")."""
    message = str(issue.get("message") or "")
    code = str(issue.get("code") or "")
    column, field = str(issue.get("column") or ""), str(issue.get("field") or "")
    for place in (where(row_number, column, field), where(row_number, "", "")):
        if message.startswith(place + ": "):
            sentence = message[len(place) + 2:]
            break
    else:
        return None
    if code == "malformed_row":
        return explain_problems(sentence)
    for scope in scopes:
        found = explain(scope, code, sentence)
        if found is not None:
            return found
    return None
