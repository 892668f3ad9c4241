"""Roster import limits: memory bounded by the header's columns, row and size limits, no control
characters from a cell into the log."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.imports.roster import (
    MAX_ROSTER_ROWS,
    RosterFormatError,
    RosterTooLargeError,
    RowError,
    parse_roster,
)
from tests.builders import a_school
from tests.test_roster_import import GOOD, HEADER, TITLE, csv_bytes, rewrite_first_sheet, xlsx_bytes
from tests.test_roster_import_api import upload

memory_only = pytest.mark.parametrize("store", ["memory"], indirect=True)


def pupil_rows(n: int) -> list[list[str]]:
    return [[str(i + 1), f"学生{i}", "男", "三年级(2)班", "李老师", f"家长{i}", "父亲",
             f"138{i:08d}", "按时接送"] for i in range(n)]


def merged_to_the_last_column(rows: int) -> bytes:
    """A roster whose 备注 column is merged across to column XFD (16,384) on every pupil row."""
    data = xlsx_bytes([[TITLE], HEADER, *pupil_rows(rows)])
    return rewrite_first_sheet(data, '<mergeCells count="1">',
                               f'<mergeCells count="2"><mergeCell ref="I3:XFD{rows + 2}"/>')


def test_given_a_merge_across_all_16384_columns_when_parsed_then_memory_stays_bounded_by_the_header(
) -> None:
    data = merged_to_the_last_column(2000)
    assert len(data) < 200 * 1024

    tracemalloc.start()
    try:
        result = parse_roster(data, "名单.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.errors == () and len(result.rows) == 2000
    print(f"\n{len(data) // 1024} KB roster merged to column XFD: peak {peak / 2**20:.1f} MB traced")
    # Widening every row to 16,384 cells took over 250 MB here; the header has 9 columns.
    assert peak < 40 * 2**20


def test_given_more_rows_than_the_limit_when_parsed_then_the_file_is_too_large() -> None:
    data = csv_bytes([HEADER, *pupil_rows(MAX_ROSTER_ROWS)])

    with pytest.raises(RosterTooLargeError, match=str(MAX_ROSTER_ROWS)):
        parse_roster(data, "名单.csv")


def test_given_blank_formatted_rows_after_the_last_pupil_when_parsed_then_they_do_not_count() -> None:
    data = xlsx_bytes([[TITLE], HEADER, GOOD])
    data = rewrite_first_sheet(data, "</sheetData>",
                               '<row r="1048576"><c r="A1048576" s="0"/></row></sheetData>')

    result = parse_roster(data, "名单.xlsx")

    assert result.errors == () and [r.name for r in result.rows] == ["王小明"]


def test_given_a_workbook_that_unpacks_beyond_the_limit_when_parsed_then_it_is_too_large() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(xlsx_bytes([[TITLE], HEADER, GOOD]))) as source:
            for item in source.infolist():
                archive.writestr(item, source.read(item.filename))
        archive.writestr("xl/media/padding.bin", b"\0" * (101 * 2**20))
    assert len(out.getvalue()) < 1 * 2**20

    with pytest.raises(RosterTooLargeError, match="100 MB"):
        parse_roster(out.getvalue(), "名单.xlsx")


def test_given_a_cell_with_a_control_character_when_parsed_then_its_row_is_refused_naming_the_column(
) -> None:
    bell = ["2", "陈\x85一鸣", "男", "三年级(2)班", "李老师", "陈静", "母亲", "13900139000", ""]
    data = csv_bytes([HEADER, GOOD, bell], encoding="utf-8")

    result = parse_roster(data, "名单.csv")

    assert [r.name for r in result.rows] == ["王小明"]
    assert [(e.row, e.column) for e in result.errors] == [(3, "姓名")]
    assert "U+0085" in result.errors[0].reason


def test_given_an_xlsx_cell_with_a_control_character_when_parsed_then_row_and_column_are_named(
) -> None:
    data = rewrite_first_sheet(xlsx_bytes([[TITLE], HEADER, GOOD]), "王大明", "王\x7f大明")

    result = parse_roster(data, "名单.xlsx")

    assert result.rows == ()
    assert result.errors == (RowError(3, "家长姓名", result.errors[0].reason),)
    assert "U+007F" in result.errors[0].reason


def test_given_a_line_break_inside_a_cell_when_parsed_then_it_is_only_whitespace() -> None:
    broken = ["1", "王小明", "男", "三年级(2)班", "李老师", "王\r\n大明", "父亲", "13800138000", "第一行\n第二行"]

    result = parse_roster(csv_bytes([HEADER, broken]), "名单.csv")

    assert result.errors == () and result.rows[0].guardians[0].name == "王大明"


@memory_only
def test_a_roster_over_5_mb_or_10000_rows_is_refused_as_too_large_and_nothing_is_imported(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r: Any = upload(client, world.admin.h(), b"x" * (5 * 2**20 + 1), "名单.csv")
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    r = upload(client, world.admin.h(), csv_bytes([HEADER, *pupil_rows(MAX_ROSTER_ROWS)]), "名单.csv")
    assert r.status_code == 413, r.text
    assert r.json()["errors"][0]["field"] == "file"
    assert client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"] == []


def test_given_a_heading_with_a_control_character_when_parsed_then_the_file_is_refused() -> None:
    data = rewrite_first_sheet(xlsx_bytes([[TITLE], HEADER, GOOD]), "备注", "备\x85注")

    with pytest.raises(RosterFormatError, match="column 9"):
        parse_roster(data, "名单.xlsx")


@memory_only
def test_a_roster_whose_file_name_holds_a_control_character_is_refused_naming_the_file(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r: Any = upload(client, world.admin.h(), csv_bytes([HEADER, GOOD]), "名单\x85.csv")
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "file"
    assert client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"] == []


def test_given_an_empty_workbook_when_parsed_then_it_is_reported_as_empty() -> None:
    data = xlsx_bytes([[None], [None]], merge_title=False)

    with pytest.raises(RosterFormatError, match="为空"):
        parse_roster(data, "名单.xlsx")
