"""Parse the pupil rosters schools already keep (CSV or XLSX) into validated rows; no storage."""

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from openpyxl import load_workbook
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.utils.exceptions import InvalidFileException

from service.domain.printable import unprintable
from service.imports.agreements import (
    AGREEMENT_COLUMNS,
    REFERENCE_COLUMNS,
    RosterAgreement,
    read_agreement,
)

GRADE_CN: dict[int, str] = dict(enumerate("一二三四五六七八九", start=1))


@dataclass(frozen=True)
class RosterGuardian:
    name: str
    phone: str  # digits only: 13800138000, or landline with area code 02112345678
    relation: str | None


@dataclass(frozen=True)
class RosterRow:
    row: int  # as Excel shows it: 1-based, title rows counted
    name: str
    gender: str  # 男 or 女
    grade: int  # 1..9; 初一..初三 are 7..9
    class_no: int
    class_label: str  # canonical, e.g. 三年级(2)班
    homeroom_teacher: str
    guardians: tuple[RosterGuardian, ...]
    agreement: RosterAgreement | None = None  # only when the file has a 协议 column


@dataclass(frozen=True)
class RowError:
    row: int  # the header row when a column group is incomplete
    column: str  # header text as written in the file
    reason: str  # Chinese, then " / " and an English gloss


@dataclass(frozen=True)
class RosterParseResult:
    rows: tuple[RosterRow, ...]
    errors: tuple[RowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


class RosterFormatError(ValueError):
    """The file as a whole cannot be read as a roster; `missing` lists absent required columns."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class RosterTooLargeError(RosterFormatError):
    """The file has more rows (or unpacks to more bytes) than one import takes."""


MAX_ROSTER_ROWS = 10_000  # as Excel numbers them: title and header rows count
MAX_XLSX_UNPACKED_BYTES = 100 * 2**20
_MAX_HEADER_COLUMNS = 256


_HEADER_SCAN_ROWS = 10
_REQUIRED = ("姓名", "性别", "班级", "班主任", "家长姓名", "联系电话")
_PUPIL_ALIASES: dict[str, frozenset[str]] = {
    "姓名": frozenset({"姓名", "学生姓名", "学生名字", "孩子姓名", "学生"}),
    "性别": frozenset({"性别", "学生性别"}),
    "班级": frozenset({"班级", "班别", "所在班级", "班级名称", "行政班"}),
    "班主任": frozenset({"班主任", "班主任姓名", "班主任老师"}),
    "协议": AGREEMENT_COLUMNS,  # optional: agreements the school already holds on paper
    "协议编号": REFERENCE_COLUMNS,
}
_PHONE_WORDS = "联系电话|电话号码|手机号码|手机号|手机|电话|联系方式"
_RELATION_WORDS = "与学生的关系|与学生关系|与孩子关系|关系"
_HOLDERS = "备用联系人|紧急联系人|监护人|联系人|家长|父亲|母亲|爸爸|妈妈"
_GUARDIAN_HEADER = re.compile(
    rf"^(?:第(?P<ord>[一二三四五六七八九])(?P<who1>{_HOLDERS})|(?P<who2>{_HOLDERS})(?P<num>[1-9])?)"
    rf"(?P<field>姓名|名字|{_PHONE_WORDS}|{_RELATION_WORDS})?$"
)
_BARE_GUARDIAN_HEADER = re.compile(rf"^(?P<field>{_PHONE_WORDS}|{_RELATION_WORDS})$")
# Slots that name a person imply the relation, so 父亲电话 needs no separate 关系 column.
_IMPLIED_RELATION = {"父亲": "父亲", "爸爸": "父亲", "母亲": "母亲", "妈妈": "母亲"}
_RELATION_ALIASES = {"爸爸": "父亲", "父": "父亲", "妈妈": "母亲", "母": "母亲"}
_GENDERS = {"男": "男", "男生": "男", "男孩": "男", "m": "男", "male": "男",
            "女": "女", "女生": "女", "女孩": "女", "f": "女", "female": "女"}

_CN_DIGITS = "一二三四五六七八九"
_CN_NUMBER = re.compile(r"(?:(?P<t>[一二三四五六七八九]?)(?P<ten>十))?(?P<o>[一二三四五六七八九]?)")
_NUM = r"[0-9]{1,2}|[一二三四五六七八九十]{1,3}"
_GRADE = r"(?P<pre>初中|初|小学)?(?P<g>[1-9]|[一二三四五六七八九])"
# Each spelling needs an explicit separator (年级, brackets, dot or dash) so a bare "12" is not
# silently read as grade 1 class 2; the only exception is the common "302班" three-digit code.
_CLASS_PATTERNS = tuple(re.compile(p) for p in (
    rf"^{_GRADE}(?:年级|年)\(?(?P<c>{_NUM})\)?班?$",
    rf"^{_GRADE}\((?P<c>{_NUM})\)班?$",
    rf"^{_GRADE}[.\-–—_](?P<c>{_NUM})班?$",
    rf"^(?P<pre>初中|初)(?P<g>[1-3]|[一二三])(?P<c>{_NUM})班$",
    r"^(?P<pre>)(?P<g>[1-9])(?P<c>0[1-9]|[1-9][0-9])班$",
))
_BRACKETS = str.maketrans("【〔[{】〕]}", "(((())))")

_MOBILE = re.compile(r"^1\d{10}$")
# Beijing/Tianjin-style 01x/02x area codes have three digits and 8-digit numbers; others four.
_LANDLINE = re.compile(r"^0(?:[12]\d{9}|[3-9]\d{9,10})$")
_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$")
_CJK = re.compile(r"[\u3400-\u9fff]")

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _cn_int(text: str) -> int | None:
    if text.isascii():
        return int(text) if text.isdigit() else None
    m = _CN_NUMBER.fullmatch(text)
    if m is None:
        return None
    tens = (_CN_DIGITS.index(m["t"]) + 1 if m["t"] else 1) if m["ten"] else 0
    return tens * 10 + (_CN_DIGITS.index(m["o"]) + 1 if m["o"] else 0)


def normalise_class(text: str) -> tuple[int, int] | None:
    """Return (grade, class_no) for any common spelling of a class, or None if unrecognisable."""
    compact = re.sub(r"\s+", "", _nfkc(text).translate(_BRACKETS))
    for pattern in _CLASS_PATTERNS:
        m = pattern.match(compact)
        if m is None:
            continue
        grade, class_no = _cn_int(m["g"]), _cn_int(m["c"])
        if grade is None or class_no is None or not 1 <= class_no <= 99:
            return None
        pre = m["pre"] or ""
        if pre.startswith("初"):
            # 初一..初三 are grades 7..9; 初中七年级 is already absolute.
            grade = grade + 6 if grade <= 3 else grade if grade >= 7 else 0
        elif pre == "小学" and grade > 6:
            return None
        return (grade, class_no) if 1 <= grade <= 9 else None
    return None


def _class_label(grade: int, class_no: int) -> str:
    return f"{GRADE_CN[grade]}年级({class_no})班"


def _clean_name(text: str) -> str:
    name = _nfkc(text)
    # IMEs and aligned printouts put spaces inside Chinese names ("王  芳"); Latin names keep one.
    return re.sub(r"\s+", "" if _CJK.search(name) else " ", name)


def _normalise_phone(text: str) -> tuple[str, str | None]:
    """Return (digits, None) or ("", reason)."""
    raw = _nfkc(text)
    if not raw:
        return "", "联系电话不能为空 / phone number is empty"
    if _SCIENTIFIC.match(raw):
        return "", ("号码被Excel显示为科学计数法，原号码已丢失，请将该列设为文本后重新填写 / "
                    "Excel turned the number into scientific notation and lost digits")
    digits = re.sub(r"[\s\-–—()]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif re.fullmatch(r"(?:0086|86)1\d{10}", digits):
        digits = digits[-11:]
    if not re.fullmatch(r"[0-9]+", digits):
        if len(re.findall(r"[0-9]{7,}", digits)) >= 2:
            return "", ("一个单元格只能填一个号码，其他号码请填入家长2电话等列 / "
                        "one number per cell; put others in 家长2电话 etc.")
        return "", "联系电话只能包含数字 / phone number may contain digits only"
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits, None
    if digits.startswith("1"):
        return "", "手机号应为11位数字 / a mobile number must have 11 digits"
    if digits.startswith("0"):
        return "", ("座机号码应为区号加7-8位号码，如021-12345678 / "
                    "a landline needs an area code and a 7-8 digit number")
    return "", ("应为11位手机号或带区号的座机号 / "
                "expected an 11-digit mobile or a landline with area code")


def _decode_text(data: bytes, filename: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)  # Excel's "Unicode 文本" export
    else:
        # Chinese-locale Excel saves plain "CSV" in GBK; GB18030 is its superset.
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterFormatError(
            f"无法识别文件“{filename}”的编码，请另存为UTF-8 CSV或XLSX / cannot decode the file")
    if any((ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" for ch in text):
        raise RosterFormatError(f"文件“{filename}”不是CSV或XLSX表格 / not a CSV or XLSX file")
    return text


def _read_csv(text: str, filename: str) -> list[list[str]]:
    sample = [line for line in text[:20000].splitlines()[:_HEADER_SCAN_ROWS + 5] if line.strip()]
    tabs = max((line.count("\t") for line in sample), default=0)
    commas = max((line.count(",") for line in sample), default=0)
    # csv.Sniffer guesses wildly on CJK text; the busiest separator in the first lines is enough.
    delimiter = "\t" if tabs > commas else ","
    try:
        return _bounded((list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)),
                        filename)
    except csv.Error as exc:
        raise RosterFormatError(f"CSV格式错误：{exc} / malformed CSV") from None


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed into Excel arrive as 13800138000.0
    return str(value)


def _read_xlsx(data: bytes, filename: str) -> list[list[str]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED_BYTES:
            raise RosterTooLargeError(
                f"文件“{filename}”解压后超过{MAX_XLSX_UNPACKED_BYTES // 2**20} MB / "
                f"the workbook unpacks to more than {MAX_XLSX_UNPACKED_BYTES // 2**20} MB")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # stored dimensions are often wrong in third-party exports
            head = [[_cell_text(v) for v in r] for r in sheet.iter_rows(
                max_row=_HEADER_SCAN_ROWS, max_col=_MAX_HEADER_COLUMNS, values_only=True)]
            # Only the header's columns are read: a merge or a stray cell out at column XFD would
            # otherwise widen every row to 16,384 cells.
            width = _header_width(head)
            rows = _bounded(([_cell_text(v) for v in r]
                             for r in sheet.iter_rows(max_col=width, values_only=True)), filename)
            # read_only sheets do not expose merged ranges, so read them from the sheet XML.
            _fill_merged(rows, width, data, getattr(sheet, "_worksheet_path", None))
            return rows
        finally:
            workbook.close()
    # A zip that is not a workbook surfaces as any of these, depending on which part is missing.
    except (InvalidFileException, zipfile.BadZipFile, KeyError, IndexError, OSError, ValueError,
            TypeError) as exc:
        if isinstance(exc, RosterFormatError):
            raise
        raise RosterFormatError(
            f"文件“{filename}”不是有效的XLSX工作簿 / not a valid XLSX workbook") from None


def _used_width(cells: list[str]) -> int:
    return next((i + 1 for i in range(len(cells) - 1, -1, -1) if cells[i].strip()), 0)


def _header_width(head: list[list[str]]) -> int:
    """How many columns the header row has (at least one); without one, the widest first row."""
    try:
        cells = head[_find_layout(head).header_row - 1]
    except RosterFormatError:
        return max([1, *(_used_width(r) for r in head)])  # parse_roster says what is wrong
    return max(1, _used_width(cells))


def _bounded(rows: Iterable[list[str]], filename: str) -> list[list[str]]:
    """The rows up to the last one with something in it; more than MAX_ROSTER_ROWS is refused."""
    table: list[list[str]] = []
    blank = 0
    for number, cells in enumerate(rows, start=1):
        if not any(c.strip() for c in cells):
            blank += 1  # kept only if something follows, so trailing formatted rows cost nothing
            continue
        if number > MAX_ROSTER_ROWS:
            raise RosterTooLargeError(
                f"文件“{filename}”超过{MAX_ROSTER_ROWS}行，请分批导入 / "
                f"more than {MAX_ROSTER_ROWS} rows; import it in parts")
        table.extend([] for _ in range(blank))
        blank = 0
        table.append(cells)
    return table


_MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


def _merged_ranges(data: bytes, sheet_path: str) -> Iterator[str]:
    """The sheet's merged ranges, read from its XML in chunks (it may unpack to far more)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(sheet_path) as xml:
        carry = b""
        while chunk := xml.read(1 << 20):
            text = carry + chunk
            cut = text.rfind(b"<")  # a tag cut by the chunk's end waits for the next chunk
            cut = len(text) if cut == -1 else cut
            for ref in _MERGE_REF.findall(text, 0, cut):
                yield ref.decode("ascii")
            carry = text[cut:]
        for ref in _MERGE_REF.findall(carry):
            yield ref.decode("ascii")


def _fill_merged(rows: list[list[str]], width: int, data: bytes, sheet_path: str | None) -> None:
    """Copy a merged block's value into every cell: schools merge 班级/班主任 down a class.

    Only within the header's columns and the rows read: a merge may reach column XFD or row
    1,048,576."""
    if not sheet_path:
        return
    for ref in _merged_ranges(data, sheet_path):
        (min_row, min_col), (max_row, max_col) = map(coordinate_to_tuple, ref.split(":"))
        if min_col > width or min_row > len(rows):
            continue
        max_col, max_row = min(max_col, width), min(max_row, len(rows))
        top = rows[min_row - 1]
        value = top[min_col - 1] if min_col <= len(top) else ""
        for row in rows[min_row - 1:max_row]:
            row.extend([""] * (max_col - len(row)))
            row[min_col - 1:max_col] = [value] * (max_col - min_col + 1)


def _read_table(data: bytes, filename: str) -> list[list[str]]:
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data, filename)
    if data.startswith(_OLE2_MAGIC):
        raise RosterFormatError("不支持旧版.xls或加密的Excel文件，请另存为.xlsx或CSV / "
                                "legacy .xls or encrypted workbooks are not supported")
    return _read_csv(_decode_text(data, filename), filename)


@dataclass
class _Slot:
    """One guardian's column group, e.g. 家长2姓名 / 家长2电话 / 家长2关系."""

    first_col: int
    implied_relation: str | None
    cols: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Layout:
    header_row: int
    headers: list[str]
    pupil: dict[str, int]
    slots: list[_Slot]
    errors: list[RowError]


def _header_key(text: str) -> str:
    key = re.sub(r"\s+", "", _nfkc(text)).replace("*", "")
    return re.sub(r"\((?:必填|选填|可选)\)", "", key)


def _guardian_column(key: str) -> tuple[str, str, str | None] | None:
    """Map a header to (slot id, field, implied relation) for guardian columns."""
    bare = _BARE_GUARDIAN_HEADER.match(key)
    m = bare or _GUARDIAN_HEADER.match(key)
    if m is None:
        return None
    word = m["field"] or "姓名"
    kind = "phone" if re.fullmatch(_PHONE_WORDS, word) else (
        "relation" if re.fullmatch(_RELATION_WORDS, word) else "name")
    if bare:
        return "#1", kind, None
    who = m["who1"] or m["who2"]
    number = (_CN_DIGITS.index(m["ord"]) + 1) if m["ord"] else int(m["num"] or 1)
    if m["ord"] or m["num"] or who in ("家长", "监护人", "联系人"):
        return f"#{number}", kind, None
    return f"{who}{number}", kind, _IMPLIED_RELATION.get(who)


def _find_layout(table: list[list[str]]) -> _Layout:
    for index, cells in enumerate(table[:_HEADER_SCAN_ROWS]):
        keys = [_header_key(c) for c in cells]
        pupil: dict[str, int] = {}
        for col, key in enumerate(keys):
            for canonical, aliases in _PUPIL_ALIASES.items():
                if key in aliases:
                    pupil.setdefault(canonical, col)  # a repeated header: the first one wins
        if "姓名" in pupil and "班级" in pupil:
            return _build_layout(index + 1, [c.strip() for c in cells], keys, pupil)
    raise RosterFormatError("前10行中找不到同时包含“姓名”和“班级”的表头行 / "
                            "no header row with 姓名 and 班级 in the first 10 rows")


def _build_layout(
    header_row: int, headers: list[str], keys: list[str], pupil: dict[str, int]
) -> _Layout:
    slots: dict[str, _Slot] = {}
    for col, key in enumerate(keys):
        mapped = _guardian_column(key) if col not in pupil.values() else None
        if mapped is not None:
            slot = slots.setdefault(mapped[0], _Slot(col, mapped[2]))
            slot.cols.setdefault(mapped[1], col)
    # 家长/联系电话 is the primary guardian wherever it sits; other groups follow in column order.
    ordered = sorted(slots.items(), key=lambda kv: (kv[0] != "#1", kv[1].first_col))
    missing = [name for name in _REQUIRED[:4] if name not in pupil]
    primary = ordered[0][1] if ordered else _Slot(0, None)
    missing += [label for kind, label in (("name", "家长姓名"), ("phone", "联系电话"))
                if kind not in primary.cols]
    if missing:
        raise RosterFormatError(
            f"缺少必填列：{'、'.join(missing)} / missing required columns", tuple(missing))
    errors: list[RowError] = []
    usable = [primary]
    for _, slot in ordered[1:]:
        absent = [label for kind, label in (("name", "姓名"), ("phone", "电话"))
                  if kind not in slot.cols]
        if absent:
            errors.append(RowError(header_row, headers[slot.first_col],
                                   f"该家长信息缺少“{'、'.join(absent)}”列 / "
                                   "guardian column group lacks a name or phone column"))
        else:
            usable.append(slot)
    return _Layout(header_row, headers, pupil, usable, errors)


def parse_roster(data: bytes, filename: str, grades: Collection[int] | None = None,
                 declared: Collection[int] | None = None) -> RosterParseResult:
    """Read a roster; whole-file problems raise RosterFormatError, row problems are returned.

    With ``grades``, a row whose class is of any other grade is a row error: the school does
    not teach (or time) that grade, so its pupils could never be given a dismissal time.
    """
    table = _read_table(data, filename)
    if not any(c.strip() for r in table for c in r):
        raise RosterFormatError(f"文件“{filename}”为空 / the file is empty")
    layout = _find_layout(table)
    for col, heading in enumerate(layout.headers):
        why = unprintable(heading)
        if why is not None:  # headings are quoted in row errors, which the answer keeps
            raise RosterFormatError(f"第{layout.header_row}行第{col + 1}列的表头含有控制字符 / "
                                    f"the heading in row {layout.header_row}, column {col + 1}, {why}")
    rows: list[RosterRow] = []
    errors = list(layout.errors)
    seen: dict[tuple[int, int, str, str], int] = {}
    for number, cells in enumerate(table[layout.header_row:], start=layout.header_row + 1):
        if not any(c.strip() for c in cells):
            continue
        unreadable = _unprintable_cells(number, cells, layout)
        if unreadable:
            errors.extend(unreadable)
            continue
        parsed, row_errors, key = _parse_row(number, cells, layout, grades, declared)
        if key is not None:
            if key in seen:
                row_errors.append(RowError(
                    number, layout.headers[layout.pupil["姓名"]],
                    f"与第{seen[key]}行重复（同班、同名、同一家长电话） / "
                    f"duplicate of row {seen[key]}"))
            else:
                seen[key] = number
        errors.extend(row_errors)
        if parsed is not None and not row_errors:
            rows.append(parsed)
    return RosterParseResult(tuple(rows), tuple(errors))


def _unprintable_cells(number: int, cells: list[str], layout: _Layout) -> list[RowError]:
    """A cell the import would store that holds a control character refuses its whole row."""
    used = sorted({*layout.pupil.values(), *(c for slot in layout.slots for c in slot.cols.values())})
    errors = []
    for col in used:
        # A line break inside a cell (Alt+Enter, or CRLF in a quoted CSV field) is whitespace the
        # parser collapses; anything else unprintable is refused.
        why = unprintable(cells[col].replace("\r", ""), multiline=True) if col < len(cells) else None
        if why is not None:
            errors.append(RowError(number, layout.headers[col],
                                   f"单元格含有控制字符，请删除后重新导入 / the cell {why}"))
    return errors


def _parse_row(
    number: int, cells: list[str], layout: _Layout, grades: Collection[int] | None = None,
    declared: Collection[int] | None = None,
) -> tuple[RosterRow | None, list[RowError], tuple[int, int, str, str] | None]:
    errors: list[RowError] = []

    def cell(col: int) -> str:
        return cells[col] if col < len(cells) else ""

    def fail(col: int, reason: str) -> None:
        errors.append(RowError(number, layout.headers[col], reason))

    col = layout.pupil
    name = _clean_name(cell(col["姓名"]))
    if not name:
        fail(col["姓名"], "学生姓名不能为空 / pupil name is empty")
    raw_gender = _nfkc(cell(col["性别"]))
    gender = _GENDERS.get(raw_gender.lower())
    if not raw_gender:
        fail(col["性别"], "性别不能为空 / gender is empty")
    elif gender is None:
        fail(col["性别"], f"性别应为“男”或“女”，实际为“{raw_gender}” / gender must be 男 or 女")
    raw_class = _nfkc(cell(col["班级"]))
    klass = normalise_class(raw_class)
    if not raw_class:
        fail(col["班级"], "班级不能为空 / class is empty")
    elif klass is None:
        fail(col["班级"], f"无法识别班级“{raw_class}”，请写成如“三年级(2)班” / "
                        "unrecognised class; write it like 三年级(2)班")
    elif grades is not None and klass[0] not in grades and declared is not None \
            and klass[0] in declared:
        fail(col["班级"], f"作息时间表中没有年级段包含{GRADE_CN[klass[0]]}年级，请先把它加入一个年级段 / "
                        f"no grade band of the schedule holds grade {klass[0]}: add it to a band first")
    elif grades is not None and klass[0] not in grades:
        taught = "、".join(f"{GRADE_CN[g]}年级" for g in sorted(grades)) or "无"
        fail(col["班级"], f"本校不开设{GRADE_CN[klass[0]]}年级（可导入：{taught}） / "
                        f"grade {klass[0]} is not taught at this school")
    teacher = _clean_name(cell(col["班主任"]))
    if not teacher:
        fail(col["班主任"], "班主任不能为空 / homeroom teacher is empty")
    agreement = None
    if "协议" in col or "协议编号" in col:
        agreement, why = read_agreement(cell(col["协议"]) if "协议" in col else "",
                                        cell(col["协议编号"]) if "协议编号" in col else "")
        if why is not None:
            fail(col["协议"], why)
    guardians: list[RosterGuardian] = []
    first_phone: str | None = None
    for index, slot in enumerate(layout.slots):
        g_name = _clean_name(cell(slot.cols["name"]))
        raw_phone = cell(slot.cols["phone"])
        raw_relation = _nfkc(cell(slot.cols["relation"])) if "relation" in slot.cols else ""
        if index > 0 and not (g_name or raw_phone.strip() or raw_relation):
            continue  # extra guardians are optional
        if not g_name:
            fail(slot.cols["name"], "家长姓名不能为空 / guardian name is empty")
        phone, why = _normalise_phone(raw_phone)
        if why is not None:
            fail(slot.cols["phone"], why)
        elif index == 0:
            first_phone = phone
        relation = _RELATION_ALIASES.get(raw_relation, raw_relation) or slot.implied_relation
        guardians.append(RosterGuardian(g_name, phone, relation))
    key = (klass[0], klass[1], name, first_phone) if klass and name and first_phone else None
    if errors or klass is None or gender is None:
        return None, errors, key
    label = _class_label(*klass)
    row = RosterRow(number, name, gender, *klass, label, teacher, tuple(guardians), agreement)
    return row, errors, key
