"""Roster import: schools' own CSV/XLSX pupil lists become validated rows or precise row errors."""

import csv
import io
import zipfile
from collections.abc import Sequence
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from service.imports.roster import (
    GRADE_CN,
    RosterFormatError,
    RosterGuardian,
    RosterParseResult,
    RosterRow,
    RowError,
    normalise_class,
    parse_roster,
)

HEADER = ["序号", "姓名", "性别", "班级", "班主任", "家长姓名", "与学生关系", "联系电话", "备注"]
GOOD = ["1", "王小明", "男", "三年级(2)班", "李老师", "王大明", "父亲", "13800138000", ""]
TITLE = "阳光小学2024学年秋季课后服务学生名单"


def csv_bytes(
    rows: list[list[str]], *, encoding: str = "utf-8-sig", delimiter: str = ","
) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[list[Any]], *, merge_title: bool = True) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)
    for row in rows:
        sheet.append(row)
    if merge_title:
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[1]))
    workbook.create_sheet("说明").append(["这一页不应被读取"])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rewrite_first_sheet(data: bytes, old: str, new: str) -> bytes:
    """Edit the sheet XML the way other writers (WPS, school systems) store it."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert old.encode() in content
                content = content.replace(old.encode(), new.encode())
            target.writestr(item, content)
    return out.getvalue()


def errors_at(result: RosterParseResult) -> list[tuple[int, str]]:
    return [(e.row, e.column) for e in result.errors]


# --- classes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("三年级(2)班", (3, 2)),
        ("三年级（2）班", (3, 2)),
        ("3年级2班", (3, 2)),
        ("三(2)班", (3, 2)),
        ("三年级二班", (3, 2)),
        ("3.2班", (3, 2)),
        ("3-2", (3, 2)),
        ("３－２", (3, 2)),
        ("3.2", (3, 2)),
        (" 三 年 级 （ 2 ） 班 ", (3, 2)),
        ("三年级【2】班", (3, 2)),
        ("三年2班", (3, 2)),
        ("302班", (3, 2)),
        ("三年级十二班", (3, 12)),
        ("六年级(10)班", (6, 10)),
        ("初一(3)班", (7, 3)),
        ("初一3班", (7, 3)),
        ("初二年级5班", (8, 5)),
        ("初三(1)班", (9, 1)),
        ("七年级3班", (7, 3)),
        ("九年级二十班", (9, 20)),
        ("小学一年级(1)班", (1, 1)),
    ],
)
def test_every_common_spelling_of_a_class_normalises_to_one_grade_and_class(
    spelling: str, expected: tuple[int, int]
) -> None:
    assert normalise_class(spelling) == expected


@pytest.mark.parametrize(
    "junk",
    ["", "三年级", "高一(2)班", "十年级1班", "初四(1)班", "2021级3班", "12", "32", "一年级(100)班",
     "3-0", "0-1", "小学七年级1班", "三年级(2)班(实验班)", "abc", "二〇二四"],
)
def test_text_that_is_not_a_class_normalises_to_none(junk: str) -> None:
    assert normalise_class(junk) is None


def test_grade_numerals_run_from_one_to_nine() -> None:
    assert GRADE_CN == {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八",
                        9: "九"}


def test_given_a_class_spelled_three_ways_when_parsed_then_every_row_carries_the_canonical_label(
) -> None:
    data = csv_bytes([HEADER,
                      ["1", "甲", "男", "3年级2班", "李老师", "甲父", "", "13800138001", ""],
                      ["2", "乙", "女", "三(2)班", "李老师", "乙母", "", "13800138002", ""],
                      ["3", "丙", "女", "初一(3)班", "赵老师", "丙母", "", "13800138003", ""]])

    result = parse_roster(data, "名单.csv")

    assert [(r.grade, r.class_no, r.class_label) for r in result.rows] == [
        (3, 2, "三年级(2)班"), (3, 2, "三年级(2)班"), (7, 3, "七年级(3)班")]


# --- file formats ------------------------------------------------------------------------------


def test_given_a_utf8_bom_csv_when_parsed_then_the_row_is_fully_read() -> None:
    result = parse_roster(csv_bytes([HEADER, GOOD], encoding="utf-8-sig"), "名单.csv")

    assert result.ok
    assert result.errors == ()
    assert result.rows == (
        RosterRow(row=2, name="王小明", gender="男", grade=3, class_no=2, class_label="三年级(2)班",
                  homeroom_teacher="李老师",
                  guardians=(RosterGuardian("王大明", "13800138000", "父亲"),)),
    )


def test_given_a_plain_utf8_csv_when_parsed_then_it_reads_like_the_bom_version() -> None:
    plain = parse_roster(csv_bytes([HEADER, GOOD], encoding="utf-8"), "名单.csv")
    bom = parse_roster(csv_bytes([HEADER, GOOD], encoding="utf-8-sig"), "名单.csv")

    assert plain == bom
    assert plain.rows[0].name == "王小明"


def test_given_a_gbk_csv_saved_by_chinese_excel_when_parsed_then_chinese_text_survives() -> None:
    rows = [[TITLE] + [""] * 8, HEADER,
            ["1", "欧阳娜娜", "女", "五年级(1)班", "陈老师", "欧阳峰", "爷爷", "13912345678", ""]]
    data = csv_bytes(rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    result = parse_roster(data, "名单.csv")

    assert result.errors == ()
    assert [(r.row, r.name, r.class_label, r.homeroom_teacher) for r in result.rows] == [
        (3, "欧阳娜娜", "五年级(1)班", "陈老师")]
    assert result.rows[0].guardians == (RosterGuardian("欧阳峰", "13912345678", "爷爷"),)


def test_given_a_tab_separated_csv_when_parsed_then_the_tab_is_sniffed_as_separator() -> None:
    note_with_commas = ["2", "张三", "男", "一年级(1)班", "周老师", "张父", "父亲", "13700001111",
                        "周一,周三,周五"]
    data = csv_bytes([HEADER, GOOD, note_with_commas], delimiter="\t")

    result = parse_roster(data, "名单.txt")

    assert result.errors == ()
    assert [(r.row, r.name, r.guardians[0].phone) for r in result.rows] == [
        (2, "王小明", "13800138000"), (3, "张三", "13700001111")]


def test_given_excel_unicode_text_export_when_parsed_then_utf16_tabs_are_read() -> None:
    data = csv_bytes([HEADER, GOOD], delimiter="\t", encoding="utf-16")

    result = parse_roster(data, "名单.txt")

    assert [r.name for r in result.rows] == ["王小明"]


def test_given_an_xlsx_with_merged_title_and_float_phones_when_parsed_then_rows_match_excel(
) -> None:
    data = xlsx_bytes([
        [TITLE],
        ["序号", "学号", " 学生姓名 ", "性别", "班级", "班主任", "监护人姓名", "关系", "手机号"],
        [1, "S001", "李 雷", "男生", "3.2班", "王老师", "李父", "父亲", 13800138000.0],
        [None] * 9,
        [2, "S002", "韩梅梅", "F", "三年级（2）班", "王老师", "韩母", "妈妈", 13912345678],
        [3, "S003", "林涛", "男", "初一(3)班", "赵老师", "林母", None, "021-12345678"],
    ])
    # openpyxl writes 13800138000.0 back as an integer; Excel/WPS may store the float form.
    data = rewrite_first_sheet(data, "<v>13800138000</v>", "<v>1.3800138E+10</v>")

    result = parse_roster(data, "roster.xlsx")

    assert result.errors == ()
    assert result.rows == (
        RosterRow(3, "李雷", "男", 3, 2, "三年级(2)班", "王老师",
                  (RosterGuardian("李父", "13800138000", "父亲"),)),
        RosterRow(5, "韩梅梅", "女", 3, 2, "三年级(2)班", "王老师",
                  (RosterGuardian("韩母", "13912345678", "母亲"),)),
        RosterRow(6, "林涛", "男", 7, 3, "七年级(3)班", "赵老师",
                  (RosterGuardian("林母", "02112345678", None),)),
    )


def test_given_an_xlsx_with_wrong_stored_dimensions_when_parsed_then_every_row_is_still_read(
) -> None:
    data = xlsx_bytes([[TITLE], HEADER, GOOD, ["2", "韩梅梅", "女", "3-2", "李老师", "韩母", "",
                                             "13912345678", ""]])
    data = rewrite_first_sheet(data, '<dimension ref="A1:I4"', '<dimension ref="A1:B2"')

    result = parse_roster(data, "名单.xlsx")

    assert result.errors == ()
    assert [(r.row, r.name, r.guardians[0].phone) for r in result.rows] == [
        (3, "王小明", "13800138000"), (4, "韩梅梅", "13912345678")]


def test_given_class_and_teacher_cells_merged_down_a_class_when_parsed_then_each_pupil_has_them(
) -> None:
    data = xlsx_bytes([
        [TITLE],
        ["姓名", "性别", "班级", "班主任", "家长姓名", "联系电话"],
        ["甲", "男", "四年级(1)班", "孙老师", "甲父", 13800000021],
        ["乙", "女", None, None, "乙母", 13800000022],
        ["丙", "女", None, None, "丙母", 13800000023],
        ["丁", "男", "四年级(2)班", "钱老师", "丁父", 13800000024],
    ])
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    sheet.merge_cells("C3:C5")
    sheet.merge_cells("D3:D5")
    out = io.BytesIO()
    workbook.save(out)

    result = parse_roster(out.getvalue(), "名单.xlsx")

    assert result.errors == ()
    assert [(r.name, r.class_label, r.homeroom_teacher) for r in result.rows] == [
        ("甲", "四年级(1)班", "孙老师"), ("乙", "四年级(1)班", "孙老师"),
        ("丙", "四年级(1)班", "孙老师"), ("丁", "四年级(2)班", "钱老师")]


def test_given_xlsx_bytes_under_a_csv_name_when_parsed_then_magic_bytes_decide() -> None:
    data = xlsx_bytes([[TITLE], HEADER, GOOD])

    result = parse_roster(data, "名单.csv")

    assert [(r.row, r.name) for r in result.rows] == [(3, "王小明")]


def test_given_csv_bytes_under_an_xlsx_name_when_parsed_then_they_are_read_as_csv() -> None:
    result = parse_roster(csv_bytes([HEADER, GOOD]), "名单.xlsx")

    assert [r.name for r in result.rows] == ["王小明"]


def test_given_the_same_bytes_twice_when_parsed_then_results_are_equal() -> None:
    data = csv_bytes([HEADER, GOOD, ["2", "", "男", "x", "", "", "", "1", ""]])

    assert parse_roster(data, "a.csv") == parse_roster(data, "a.csv")


# --- headers -----------------------------------------------------------------------------------


def test_given_fullwidth_and_padded_header_variants_when_parsed_then_columns_are_recognised(
) -> None:
    header = ["　姓　名　", "性别 ", "班 级", "班主任*", "家长", "家长电话(必填)", "学号"]
    data = csv_bytes([[""] * 7, [TITLE], header,
                      ["赵六", "女", "4-1", "孙老师", "赵妈", "139 0000 1111", "A7"]])

    result = parse_roster(data, "名单.csv")

    assert result.errors == ()
    assert result.rows[0].row == 4
    assert result.rows[0].guardians == (RosterGuardian("赵妈", "13900001111", None),)


@pytest.mark.parametrize(
    "phone_header", ["电话", "手机", "手机号", "联系方式", "家长电话", "联系电话"]
)
def test_each_phone_header_variant_is_the_first_guardians_phone(phone_header: str) -> None:
    header = ["姓名", "性别", "班级", "班主任", "监护人姓名", phone_header]
    data = csv_bytes([header, ["钱七", "男", "2(1)班", "吴老师", "钱父", "13600001111"]])

    assert parse_roster(data, "x.csv").rows[0].guardians[0].phone == "13600001111"


def test_given_required_columns_missing_when_parsed_then_the_error_names_them() -> None:
    data = csv_bytes([["姓名", "性别", "班级", "家长姓名"], ["甲", "男", "3-2", "甲父"]])

    with pytest.raises(RosterFormatError) as caught:
        parse_roster(data, "x.csv")

    assert caught.value.missing == ("班主任", "联系电话")
    assert "班主任" in str(caught.value) and "联系电话" in str(caught.value)


def test_given_the_header_below_row_ten_when_parsed_then_header_not_found_is_raised() -> None:
    data = csv_bytes([[TITLE]] * 10 + [HEADER, GOOD])

    with pytest.raises(RosterFormatError, match="表头"):
        parse_roster(data, "x.csv")


def test_given_a_header_on_row_ten_when_parsed_then_it_is_still_found() -> None:
    result = parse_roster(csv_bytes([[TITLE]] * 9 + [HEADER, GOOD]), "x.csv")

    assert [r.row for r in result.rows] == [11]


# --- extra guardians ---------------------------------------------------------------------------


def test_given_numbered_guardian_columns_when_parsed_then_guardians_follow_in_order() -> None:
    header = ["姓名", "性别", "班级", "班主任", "家长姓名", "联系电话", "关系",
              "家长2姓名", "家长2电话", "家长2关系", "第三监护人姓名", "第三监护人电话"]
    data = csv_bytes([
        header,
        ["甲", "男", "3-2", "李老师", "甲父", "13800000001", "爸爸", "甲母", "13800000002", "母亲",
         "甲奶奶", "0755-1234567"],
        ["乙", "女", "3-2", "李老师", "乙母", "13800000003", "母亲", "", "", "", "", ""],
    ])

    result = parse_roster(data, "x.csv")

    assert result.errors == ()
    assert result.rows[0].guardians == (
        RosterGuardian("甲父", "13800000001", "父亲"),
        RosterGuardian("甲母", "13800000002", "母亲"),
        RosterGuardian("甲奶奶", "07551234567", None),
    )
    assert result.rows[1].guardians == (RosterGuardian("乙母", "13800000003", "母亲"),)


def test_given_a_backup_contact_column_group_when_parsed_then_it_is_an_extra_guardian() -> None:
    header = ["姓名", "性别", "班级", "班主任", "家长姓名", "联系电话",
              "备用联系人", "备用联系人电话"]
    data = csv_bytes([header, ["丙", "女", "1-1", "周老师", "丙父", "13800000004", "丙姑姑",
                               "13800000005"]])

    assert parse_roster(data, "x.csv").rows[0].guardians == (
        RosterGuardian("丙父", "13800000004", None), RosterGuardian("丙姑姑", "13800000005", None))


def test_given_father_and_mother_columns_when_parsed_then_the_relation_comes_from_the_header(
) -> None:
    header = ["姓名", "性别", "班级", "班主任", "父亲姓名", "父亲电话", "母亲姓名", "母亲电话"]
    data = csv_bytes([header, ["丁", "男", "2-3", "吴老师", "丁父", "13800000006", "丁母",
                               "13800000007"]])

    assert parse_roster(data, "x.csv").rows[0].guardians == (
        RosterGuardian("丁父", "13800000006", "父亲"),
        RosterGuardian("丁母", "13800000007", "母亲"),
    )


def test_given_a_guardian_group_without_a_phone_column_when_parsed_then_the_header_row_is_blamed(
) -> None:
    header = ["姓名", "性别", "班级", "班主任", "家长姓名", "联系电话", "家长2姓名"]
    data = csv_bytes([[TITLE], header,
                      ["戊", "男", "2-3", "吴老师", "戊父", "13800000008", "戊母"]])

    result = parse_roster(data, "x.csv")

    assert not result.ok
    assert errors_at(result) == [(2, "家长2姓名")]
    assert "电话" in result.errors[0].reason


def test_given_a_second_guardian_with_a_name_but_no_phone_when_parsed_then_that_cell_is_blamed(
) -> None:
    header = ["姓名", "性别", "班级", "班主任", "家长姓名", "联系电话", "家长2姓名", "家长2电话"]
    data = csv_bytes([header, ["己", "女", "2-3", "吴老师", "己父", "13800000009", "己母", ""]])

    result = parse_roster(data, "x.csv")

    assert errors_at(result) == [(2, "家长2电话")]
    assert result.rows == ()


# --- row validation ----------------------------------------------------------------------------


def test_given_a_file_full_of_mistakes_when_parsed_then_every_error_is_reported_by_row_and_column(
) -> None:
    rows = [
        [TITLE] + [""] * 8,
        HEADER,
        GOOD,                                                                          # row 3
        ["2", "", "男", "三年级(2)班", "李老师", "某父", "", "13800000010", ""],           # 4
        ["3", "张三", "未知", "三年级(2)班", "李老师", "张父", "", "13800000011", ""],     # 5
        ["4", "李四", "男", "高一(2)班", "李老师", "李父", "", "13800000012", ""],         # 6
        ["5", "王五", "女", "三年级(2)班", "", "王母", "", "13800000013", ""],             # 7
        [""] * 9,                                                                      # 8 blank
        ["6", "赵六", "女", "三年级(2)班", "李老师", "", "", "13800000014", ""],           # 9
        ["7", "孙七", "男", "三年级(2)班", "李老师", "孙父", "", "1380000001", ""],        # 10
        ["8", "周八", "男", "三年级(2)班", "李老师", "周父", "", "021-1234", ""],          # 11
        ["9", "吴九", "男", "三年级(2)班", "李老师", "吴父", "", "1.38E+10", ""],          # 12
        ["10", "郑十", "男", "三年级(2)班", "李老师", "郑父", "", "13800000015/13900000015", ""],
        ["11", "王 小明", "男", "3年级2班", "李老师", "王大明", "", "138-0013-8000", ""],   # 14 dup
        ["12", "", "", "", "", "", "", "", ""],                                        # 15
        ["13", "陈一", "男", "三年级(2)班", "李老师", "陈父", "", "87654321", ""],         # 16
    ]

    result = parse_roster(csv_bytes(rows), "名单.csv")

    assert not result.ok
    assert errors_at(result) == [
        (4, "姓名"),
        (5, "性别"),
        (6, "班级"),
        (7, "班主任"),
        (9, "家长姓名"),
        (10, "联系电话"),
        (11, "联系电话"),
        (12, "联系电话"),
        (13, "联系电话"),
        (14, "姓名"),
        (15, "姓名"), (15, "性别"), (15, "班级"),
        (15, "班主任"), (15, "家长姓名"), (15, "联系电话"),
        (16, "联系电话"),
    ]
    reasons = {(e.row, e.column): e.reason for e in result.errors}
    assert reasons[(4, "姓名")].startswith("学生姓名不能为空 / ")
    assert "未知" in reasons[(5, "性别")]
    assert "高一(2)班" in reasons[(6, "班级")]
    assert reasons[(7, "班主任")].startswith("班主任不能为空")
    assert reasons[(9, "家长姓名")].startswith("家长姓名不能为空")
    assert reasons[(10, "联系电话")].startswith("手机号应为11位数字 / ")
    assert reasons[(11, "联系电话")].startswith("座机号码")
    assert "科学计数法" in reasons[(12, "联系电话")]
    assert "一个单元格只能填一个号码" in reasons[(13, "联系电话")]
    assert reasons[(14, "姓名")].startswith("与第3行重复")
    assert reasons[(16, "联系电话")].startswith("应为11位手机号或带区号的座机号")
    for error in result.errors:
        chinese, english = error.reason.split(" / ", 1)
        assert not chinese.isascii() and english[:1].isascii() and english[:1].isalpha()
    assert [r.row for r in result.rows] == [3]


def test_given_gender_spelled_as_words_or_letters_when_parsed_then_it_normalises() -> None:
    rows = [HEADER] + [
        [str(i), f"学生{i}", g, "1-1", "周老师", f"家长{i}", "", f"1380000010{i}", ""]
        for i, g in enumerate(["男生", "女生", "M", "f", "Male", "女"])
    ]

    result = parse_roster(csv_bytes(rows), "x.csv")

    assert [r.gender for r in result.rows] == ["男", "女", "男", "女", "男", "女"]


@pytest.mark.parametrize(
    ("written", "stored"),
    [("13800138000", "13800138000"), ("138 0013 8000", "13800138000"),
     ("+86 138-0013-8000", "13800138000"), ("８６１３８００１３８０００", "13800138000"),
     ("021-12345678", "02112345678"), ("(010)87654321", "01087654321"),
     ("0755-1234567", "07551234567"), ("0571 8888 8888", "057188888888")],
)
def test_phone_numbers_as_people_write_them_are_stored_as_digits(written: str, stored: str) -> None:
    row = GOOD[:7] + [written, ""]

    assert parse_roster(csv_bytes([HEADER, row]), "x.csv").rows[0].guardians[0].phone == stored


def test_given_a_pupil_in_two_classes_when_parsed_then_it_is_not_a_duplicate() -> None:
    other_class = GOOD[:3] + ["三年级(3)班"] + GOOD[4:]
    other_phone = GOOD[:7] + ["13900000000", ""]

    result = parse_roster(csv_bytes([HEADER, GOOD, other_class, other_phone]), "x.csv")

    assert result.errors == ()
    assert [r.row for r in result.rows] == [2, 3, 4]


def test_result_is_ok_only_without_errors() -> None:
    assert RosterParseResult(rows=(), errors=()).ok
    assert not RosterParseResult(rows=(), errors=(RowError(2, "姓名", "x / x"),)).ok


# --- not a roster ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \r\n\r\n",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<\x00>>",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
        b"\xff\xfe\x00\xd8",
    ],
    ids=["empty", "blank-lines", "png", "pdf", "legacy-xls", "broken-utf16"],
)
def test_given_bytes_that_are_not_a_spreadsheet_when_parsed_then_a_format_error_is_raised(
    data: bytes,
) -> None:
    with pytest.raises(RosterFormatError):
        parse_roster(data, "名单.xlsx")


def test_given_a_zip_that_is_not_a_workbook_when_parsed_then_a_format_error_is_raised() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")

    with pytest.raises(RosterFormatError, match="XLSX"):
        parse_roster(out.getvalue(), "名单.xlsx")


def test_given_prose_instead_of_a_table_when_parsed_then_header_not_found_is_raised() -> None:
    data = "各位家长：\n本学期课后服务将于九月开始。\n".encode()

    with pytest.raises(RosterFormatError, match="表头"):
        parse_roster(data, "通知.csv")
