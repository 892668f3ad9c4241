"""Importing a school's own roster over HTTP: all rows or none, and never twice."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import Workbook

from service.application import HandoverApp
from service.domain.pupil import Pupil
from tests.builders import a_school, key
from tests.stores import every_store

CSV_ROWS = [
    "实验小学2026学年秋季课后服务学生名单,,,,,",
    "姓名,性别,班级,班主任,家长姓名,联系电话",
    "王小红,女,三年级（２）班,李老师,王大明,１３８００１３８０００",
    "陈一鸣,男,3年级2班,李老师,陈静,13900139000",
    "赵四,男,四(1)班,孙老师,赵五,13700137000",
]


def upload(client: TestClient, token_headers: dict[str, str], data: bytes, name: str,
           **params: str) -> Response:
    r: Response = client.post("/v1/imports/roster", params=params, headers={**token_headers, **key()},
                              files={"file": (name, data, "application/octet-stream")})
    return r


def test_a_gbk_csv_with_a_title_row_creates_pupils_classes_and_teachers(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    data = "\r\n".join(CSV_ROWS).encode("gbk")
    r = upload(client, world.admin.h(), data, "名单.csv")
    assert r.status_code == 201, r.text
    report = r.json()
    assert (report["pupils_created"], report["classes_created"], report["staff_created"]) == (3, 1, 1)
    pupils = client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"]
    by_name = {p["name"]: p for p in pupils}
    assert by_name["王小红"]["class_label"] == by_name["陈一鸣"]["class_label"] == "三年级(2)班"
    assert by_name["赵四"]["class_label"] == "四年级(1)班"
    detail = client.get(f"/v1/pupils/{by_name['王小红']['pupil_id']}", headers=world.admin.h()).json()
    assert detail["guardians"][0]["phone"] == "13800138000"


@every_store
def test_importing_the_same_file_twice_creates_nothing_twice(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    data = ("\ufeff" + "\n".join(CSV_ROWS)).encode("utf-8")
    assert upload(client, world.admin.h(), data, "a.csv").status_code == 201
    again = upload(client, world.admin.h(), data, "a.csv")
    assert again.status_code == 200
    assert again.json()["pupils_created"] == 0 and again.json()["pupils_already_present"] == 3
    assert len(client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"]) == 3


def test_one_bad_row_rejects_the_whole_file_naming_row_column_and_reason(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    rows = [*CSV_ROWS, "钱七,男,五(3)班,周老师,钱八,12345"]
    r = upload(client, world.admin.h(), "\n".join(rows).encode("utf-8"), "bad.csv")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    [error] = r.json()["errors"]
    assert (error["row"], error["column"]) == (6, "联系电话")
    assert client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"] == []


def test_an_xlsx_roster_with_numeric_phones_imports(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["2026秋课后服务名单"])
    sheet.append(["姓名", "性别", "班级", "班主任", "家长姓名", "联系电话", "家长2姓名", "家长2电话"])
    sheet.append(["刘洋", "男", "二(1)班", "黄老师", "刘强", 13600136000, "李娜", 13500135000])
    buf = io.BytesIO()
    book.save(buf)
    r = upload(client, world.admin.h(), buf.getvalue(), "roster.xlsx")
    assert r.status_code == 201, r.text
    [pupil] = client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"]
    detail = client.get(f"/v1/pupils/{pupil['pupil_id']}", headers=world.admin.h()).json()
    assert [g["phone"] for g in detail["guardians"]] == ["13600136000", "13500135000"]


def test_a_dry_run_reports_and_creates_nothing(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = upload(client, world.admin.h(), "\n".join(CSV_ROWS).encode(), "a.csv", dry_run="true")
    assert r.status_code == 200 and r.json()["pupils_created"] == 3 and r.json()["imported"] is False
    assert client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"] == []


def test_a_file_that_is_not_a_roster_is_refused_clearly(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = upload(client, world.admin.h(), b"\x89PNG\r\n\x1a\n\x00\x00", "photo.png")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"


def test_a_pupil_imported_before_is_found_by_the_key_earlier_releases_wrote(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    rows = [*CSV_ROWS[:2], "阿依古丽·买买提,女,三年级（２）班,李老师,买买提,13800138000"]
    r = upload(client, world.admin.h(), "\n".join(rows).encode("utf-8"), "a.csv")
    assert r.status_code == 201, r.text
    [pupil] = client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"]
    # The import key keeps the separator: a store written by an earlier release has it so.
    assert pupil["pupil_id"] == str(Pupil.create_id(world.school_id, "roster/3-2/阿依古丽·买买提/13800138000"))
