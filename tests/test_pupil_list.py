"""The pupil list a page at a time: a school of thousands is browsed to its last pupil."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.api.pupils import PUPIL_PAGE, PUPIL_PAGE_MAX
from service.application import HandoverApp
from tests.builders import World, a_school
from tests.test_roster_import import HEADER, csv_bytes
from tests.test_roster_import_api import upload

CLASSES = [f"{grade}年级({n})班" for grade in range(1, 7) for n in range(1, 11)]  # 60 classes


def a_school_of(client: TestClient, app: HandoverApp, pupils: int) -> World:
    """A school whose roster of ``pupils`` is imported, 50 to a class."""
    world = a_school(client, app, 0)
    rows = [[str(i + 1), f"学生{i:04d}", "女" if i % 2 else "男", CLASSES[i // 50],
             f"班主任{i // 50}", f"家长{i:04d}", "母亲", f"139{i:08d}", ""] for i in range(pupils)]
    r = upload(client, world.admin.h(), csv_bytes([HEADER, *rows]), "名单.csv")
    assert r.status_code == 201 and r.json()["pupils_created"] == pupils, r.text
    return world


def page(world: World, **params: Any) -> dict[str, Any]:
    r = world.client.get("/v1/pupils", params=params, headers=world.admin.h())
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_school_of_three_thousand_pupils_is_browsed_page_by_page_to_its_last_pupil(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school_of(client, app, 3000)
    first = page(world)
    assert (first["total"], first["limit"], len(first["pupils"])) == (3000, PUPIL_PAGE, PUPIL_PAGE)
    assert first["next_offset"] == PUPIL_PAGE
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        got = page(world, limit=PUPIL_PAGE_MAX, offset=offset)
        assert got["total"] == 3000 and got["offset"] == offset
        seen += [p["pupil_id"] for p in got["pupils"]]
        offset = got["next_offset"]
    assert len(seen) == len(set(seen)) == 3000  # every pupil once, none skipped
    assert page(world, limit=1, offset=2999)["next_offset"] is None
    assert page(world, offset=3000)["pupils"] == []


def test_pages_follow_the_class_and_name_order_and_a_search_counts_only_its_matches(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school_of(client, app, 120)
    whole = page(world, limit=PUPIL_PAGE_MAX)["pupils"]
    assert [(p["class_label"], p["name"]) for p in whole] == sorted(
        (p["class_label"], p["name"]) for p in whole)
    pages = [page(world, limit=7, offset=o)["pupils"] for o in range(0, 120, 7)]
    assert [p for got in pages for p in got] == whole
    found = page(world, q="学生00", limit=5)
    assert found["total"] == 100 and len(found["pupils"]) == 5 and found["next_offset"] == 5
    in_class = page(world, class_id=whole[0]["class_id"])
    assert in_class["total"] == 50 and in_class["next_offset"] is None


def test_a_page_larger_than_the_maximum_is_refused(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = world.client.get("/v1/pupils", params={"limit": PUPIL_PAGE_MAX + 1},
                         headers=world.admin.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.limit", r.text
