"""Enrolment in bulk and from the roster on every store: the steps are kept, replayed and seen."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.application import HandoverApp
from tests.builders import TERM, a_school, key
from tests.stores import every_store

pytestmark = every_store


def test_pupils_enrolled_in_bulk_or_from_paper_agreements_are_expected_on_the_roster(
    client: TestClient, app: HandoverApp
) -> None:
    world = a_school(client, app, 0)
    rows = ["姓名,性别,班级,班主任,家长姓名,联系电话,已签协议",
            "王小红,女,三年级(2)班,李老师,王大明,13800138000,2026-08-28",
            "陈一鸣,男,三年级(2)班,李老师,陈静,13900139000,否"]
    r = client.post("/v1/imports/roster", headers=world.admin.h(**key()),
                    params={"term": "2026秋", "term_starts": "2026-09-01", "term_ends": "2027-01-20"},
                    files={"file": ("名单.csv", "\n".join(rows).encode(), "text/csv")})
    assert r.status_code == 201 and r.json()["pupils_signed"] == 1, r.text
    pupils = {p["name"]: p["pupil_id"] for p in client.get("/v1/pupils", headers=world.admin.h()).json()["pupils"]}
    chen = pupils["陈一鸣"]
    steps = [("apply", {"pupil_ids": [chen], **TERM}), ("class_reviewed", {"class_id": world.class_id}),
             ("school_approved", {"class_id": world.class_id}),
             ("signed", {"class_id": world.class_id, "reference": "协议册第2页"})]
    for step, body in steps:
        who = world.homeroom if step == "class_reviewed" else world.admin
        headers = who.h(**{"Idempotency-Key": f"bulk-{step}"})
        first = client.post(f"/v1/enrolment/{step}", json=body, headers=headers)
        assert first.status_code == 200 and first.json()["done"] == 1, first.text
        again = client.post(f"/v1/enrolment/{step}", json=body, headers=headers)
        assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    position = int(first.headers["X-Log-Position"])
    r = client.get("/v1/roster", params={"min_position": position}, headers=world.admin.h())
    assert r.status_code == 200, r.text
    assert {p["pupil_id"] for p in r.json()["pupils"]} == {pupils["王小红"], chen}
    detail = client.get(f"/v1/pupils/{chen}", headers=world.admin.h()).json()
    assert detail["enrolment"]["agreement"] == {"signed_on": None, "reference": "协议册第2页"}
