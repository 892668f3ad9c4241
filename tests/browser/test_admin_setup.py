"""The school's set-up and schedule edited on the admin's desk, in a browser: the profile, a class
with its homeroom teacher, a club added and renamed, a gate; the schedule as a form whose preview
of today's dismissals follows what is typed, a refused season shown at its field, then saved."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Served
from tests.browser.test_admin_screen import ADMIN, signed_in
from tests.browser.test_board_screens import serious_violations, small_targets
from tests.browser.test_gate_screen import untranslated


def test_an_admin_edits_the_profile_a_class_a_club_and_a_gate(
        context: BrowserContext, served: Served, artifacts: Path) -> None:
    admin = served.client(ADMIN)
    school = admin.get("/v1/school").json()
    teachers = [s for s in school["staff"] if "teacher" in s["roles"] and s["active"]]
    page = context.new_page()
    signed_in(page, served)
    page.get_by_test_id("admin-tab-setup").click()
    try:
        page.get_by_test_id("profile-name").fill("演示小学（东校区）")
        page.get_by_test_id("profile-save").click()
        expect(page.get_by_role("heading", name="学校管理 · 演示小学（东校区）")).to_be_visible()
    finally:
        restored = admin.put("/v1/school/profile", headers={"Idempotency-Key": "restoreprofile"},
                             json={"name": school["name"], "timezone": school["timezone"]})
        assert restored.status_code == 200, restored.text

    form = page.get_by_test_id("class-form")
    form.get_by_test_id("class-grade").select_option(label="5 年级")
    form.get_by_test_id("class-no").fill("9")
    form.get_by_test_id("class-new-teacher").select_option(label=teachers[0]["name"])
    form.get_by_test_id("class-add").click()
    row = page.get_by_test_id("class-row").filter(has_text="五年级(9)班")
    expect(row).to_contain_text(f"班主任：{teachers[0]['name']}")
    row.get_by_test_id("class-teacher").select_option(label=teachers[1]["name"])
    expect(row).to_contain_text(f"班主任：{teachers[1]['name']}")

    page.get_by_test_id("group-new").click()
    group = page.get_by_test_id("group-form")
    group.get_by_test_id("group-name").fill("国际象棋社")
    group.get_by_test_id("group-kind").select_option("club")
    group.get_by_test_id("group-room").fill("科技楼203")
    group.get_by_text("五年级(9)班").click()
    group.get_by_test_id("group-save").click()
    club = page.get_by_test_id("group-row").filter(has_text="国际象棋社")
    expect(club).to_contain_text("社团 · 科技楼203")
    club.get_by_test_id("group-edit").click()
    club.get_by_test_id("group-name").fill("国际象棋与桥牌社")
    club.get_by_test_id("group-save").click()
    expect(page.get_by_test_id("group-row").filter(has_text="国际象棋与桥牌社")).to_have_count(1)

    page.get_by_test_id("gate-name").fill("北门")
    page.get_by_test_id("gate-add").click()
    expect(page.get_by_test_id("setup-gates")).to_contain_text("北门")
    assert not untranslated(page), untranslated(page)
    assert small_targets(page) == [], small_targets(page)
    assert serious_violations(page) == [], serious_violations(page)
    page.screenshot(path=artifacts / "59-admin-setup-edit.png", full_page=True)

    after = admin.get("/v1/school").json()
    mine = next(c for c in after["classes"] if c["label"] == "五年级(9)班")
    assert mine["homeroom_teacher_id"] == teachers[1]["staff_id"]
    [chess] = [g for g in after["groups"] if g["name"] == "国际象棋与桥牌社"]
    assert (chess["kind"], chess["room"], chess["class_ids"]) == ("club", "科技楼203", [mine["class_id"]])
    assert "北门" in [g["name"] for g in after["gates"]]


def test_the_schedule_is_a_form_with_todays_dismissals_previewed_and_errors_at_their_field(
        context: BrowserContext, served: Served, artifacts: Path) -> None:
    admin = served.client(ADMIN)
    answer = admin.get("/v1/school/schedule")
    original = answer.json()
    today = datetime.fromisoformat(answer.headers["X-Server-Time"]).astimezone(
        ZoneInfo("Asia/Shanghai")).date()
    session = original["sessions"][0]
    band = next(b for b in original["bands"] if b["key"] in session["dismissals"])
    page = context.new_page()
    signed_in(page, served)
    page.get_by_test_id("admin-tab-schedule").click()
    try:
        first = page.get_by_test_id("session").first
        if today.isoweekday() not in session["weekdays"]:
            first.get_by_text(["周一", "周二", "周三", "周四", "周五", "周六", "周日"][today.isoweekday() - 1],
                              exact=True).click()
        preview = page.get_by_test_id("schedule-preview")
        first.get_by_test_id("season-add").click()
        season = first.get_by_test_id("season").last
        season.get_by_test_id("season-name").fill("冬令时")
        season.get_by_test_id("season-starts").fill("13-40")
        season.get_by_test_id("season-ends").fill(mmdd(today + timedelta(days=1)))
        season.get_by_test_id(f"season-dismissal-{band['key']}").fill("16:20")
        page.get_by_test_id("schedule-save").click()
        index = len(session.get("seasons") or [])
        wrong = season.locator(f"[data-error-at='sessions.0.seasons.{index}.starts']")
        expect(wrong).to_have_text("此项填写有误")
        assert admin.get("/v1/school/schedule").json() == original  # nothing saved
        page.screenshot(path=artifacts / "60-admin-schedule-error.png", full_page=True)

        season.get_by_role("button", name="删除").click()  # the season refused is dropped
        expect(first.get_by_test_id("season")).to_have_count(index)
        covering = [j for j, x in enumerate(session.get("seasons") or [])
                    if band["key"] in x.get("dismissals", {}) and in_season(mmdd(today), x["starts"], x["ends"])]
        if covering:  # today's time is the season's: that is the one to change
            first.get_by_test_id("season").nth(covering[0]).get_by_test_id(f"season-dismissal-{band['key']}").fill("16:20")
        else:
            first.get_by_test_id(f"dismissal-{band['key']}").fill("16:20")
        expect(preview.get_by_test_id("preview-band").filter(has_text=band["name"]).first).to_contain_text("16:20")
        page.get_by_test_id("no-service-date").fill(today.isoformat())
        page.get_by_test_id("no-service-add").click()
        expect(preview).to_contain_text("今天无服务")
        page.get_by_test_id("no-service-dates").get_by_role("button").last.click()
        expect(preview.get_by_test_id("preview-band").filter(has_text=band["name"]).first).to_contain_text("16:20")
        assert not untranslated(page), untranslated(page)
        assert small_targets(page) == [], small_targets(page)
        assert serious_violations(page) == [], serious_violations(page)
        page.get_by_test_id("schedule-save").click()
        expect(page.get_by_test_id("admin-schedule").get_by_role("status")).to_contain_text("作息时间已保存")
        page.screenshot(path=artifacts / "61-admin-schedule.png", full_page=True)
        saved = admin.get("/v1/school/schedule").json()
        first_saved = saved["sessions"][0]
        chosen = first_saved["seasons"][covering[0]]["dismissals"] if covering else first_saved["dismissals"]
        assert chosen[band["key"]] == "16:20"
    finally:
        restored = admin.put("/v1/school/schedule", headers={"Idempotency-Key": "restoreschedule"},
                             json=original)
        assert restored.status_code == 200, restored.text


def mmdd(day: date) -> str:
    return f"{day:%m-%d}"


def in_season(day: str, starts: str, ends: str) -> bool:
    return starts <= day < ends if starts <= ends else day >= starts or day < ends
