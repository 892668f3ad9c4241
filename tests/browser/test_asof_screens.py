"""The safety officer's look back at a past minute, and an incident's attachments, in a real
browser: the roster the slider shows at a minute is the API's as-of at that minute, row by row;
a pupil's custody at that minute comes with the events that prove it, their whole day and their
custodian's shift; a photo uploaded on the incident's page is kept by its hash and shown as a
thumbnail fetched with the token; the teacher's phone attaches a photo to a report."""

from __future__ import annotations

import hashlib
import re
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Served
from tests.browser.test_board_screens import (
    ADMIN,
    SAFETY_OFFICER,
    ok,
    serious_violations,
    sign_in,
    small_targets,
    untranslated,
)

SESSION = "after_school"
TEACHER = "唐晓东"
PHONE = {"width": 390, "height": 844}


def a_photo(path: Path, colour: str) -> bytes:
    out = BytesIO()
    Image.new("RGB", (640, 480), colour).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return out.getvalue()


def settled(page: Page) -> str:
    """The minute the screen shows ("YYYY-MM-DDTHH:MM"), once the roster shown answers it (the
    minute, the session and the filter now chosen)."""
    day = page.get_by_test_id("asof-day").input_value()
    minute = page.get_by_test_id("asof-time").input_value()
    session = page.get_by_test_id("asof-session").input_value()
    chosen = page.get_by_test_id("asof-filter").input_value()
    status = page.get_by_test_id("asof-status")
    expect(status).to_have_attribute("data-answered", f"{day}T{minute}|{session}|{chosen}", timeout=20000)
    expect(status).to_have_attribute("data-loading", "false")
    expect(status).to_contain_text(f"{minute} 时")
    return f"{day}T{minute}"


def shown_rows(page: Page) -> dict[str, tuple[str, str, str]]:
    rows: list[list[str]] = page.evaluate("""() => [...document.querySelectorAll('[data-testid=asof-row]')]
        .map(r => [r.dataset.pupilId, r.dataset.status,
                   r.querySelector('[data-testid=asof-custodian]').textContent,
                   r.querySelector('[data-testid=asof-place]').textContent])""")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def api_rows(served: Served, at: str, **query: str) -> dict[str, tuple[str, str, str]]:
    found = ok(served.client(SAFETY_OFFICER).get("/v1/roster/as-of", params={"at": at, "session": SESSION, **query}))
    return {p["pupil_id"]: (p["status"], (p["custodian"] or {}).get("name") or "",
                            (p["place"] or {}).get("label") or "") for p in found["pupils"]}


def pupils_signed_in(served: Served) -> dict[str, Any]:
    """Three pupils of the second grade signed in by their homework group's teacher, now: the
    other screens' tests use the first grade's group, the third and fourth grades' and the fifth
    and sixth grades'."""
    admin = served.client(ADMIN)
    school = ok(admin.get("/v1/school"))
    grade = {c["class_id"]: c["grade"] for c in school["classes"]}
    names = {s["staff_id"]: s["name"] for s in school["staff"]}
    rows = [r for r in ok(admin.get("/v1/roster"))["pupils"]
            if grade.get(r["class_id"]) == 2 and r["status"] == "not_handed_over" and r["homework_group_id"]]
    group = next(g for g in school["groups"] if g["group_id"] == rows[-1]["homework_group_id"])
    pupils = [r["pupil_id"] for r in rows if r["homework_group_id"] == group["group_id"]][-3:]
    teacher = names[group["teacher_id"]]
    ok(served.client(teacher).post("/v1/sign-ins", json={"pupil_ids": pupils, "place_id": group["group_id"]}))
    return {"teacher": teacher, "group": group, "pupils": pupils}


def test_the_roster_the_slider_shows_at_a_minute_is_the_log_as_of_that_minute(
        context: BrowserContext, served: Served, artifacts: Path) -> None:
    held = pupils_signed_in(served)
    page = context.new_page()
    sign_in(page, served, SAFETY_OFFICER)
    page.get_by_test_id("tab-asof").click()
    slider = page.get_by_test_id("asof-slider")
    low, high = int(slider.get_attribute("min") or 0), int(slider.get_attribute("max") or 0)
    assert high >= low
    first = settled(page)  # today, now: the pupils just signed in are held by their teacher
    assert shown_rows(page) == api_rows(served, first)
    teacher, group = held["teacher"], held["group"]
    for pupil_id in held["pupils"]:
        assert shown_rows(page)[pupil_id] == ("in_custody", teacher, group["name"]), shown_rows(page)[pupil_id]

    # Half an hour back with the keyboard, a minute a step: one answer for the minute it stops at.
    answers: list[str] = []
    page.on("request", lambda r: answers.append(r.url) if "/v1/roster/as-of" in r.url else None)
    slider.focus()
    steps = min(30, high - low)
    for _ in range(steps):
        page.keyboard.press("ArrowLeft")
    at = settled(page)
    start = int(first[11:13]) * 60 + int(first[14:16])
    minute = max(low, start - steps)
    assert at.endswith(f"{minute // 60:02d}:{minute % 60:02d}"), (first, at, steps)
    assert len(answers) <= 2, answers  # the slider is debounced, not one request per minute
    rows = shown_rows(page)
    assert rows == api_rows(served, at)
    assert len(rows) == ok(served.client(ADMIN).get("/v1/roster/as-of", params={"at": at}))["counts"]["total"]
    page.screenshot(path=artifacts / "40-asof-slider.png", full_page=True)
    assert not untranslated(page), untranslated(page)
    assert not small_targets(page), small_targets(page)
    assert not serious_violations(page), serious_violations(page)

    # A minute typed, filtered to one group: the same rows as the API's for that group then.
    middle = high
    page.get_by_test_id("asof-time").fill(f"{middle // 60:02d}:{middle % 60:02d}")
    page.get_by_test_id("asof-filter").select_option(f"group:{group['group_id']}")
    at = settled(page)
    assert at.endswith(f"{middle // 60:02d}:{middle % 60:02d}")
    in_group = shown_rows(page)
    assert in_group == api_rows(served, at, group_id=group["group_id"])
    assert set(held["pupils"]) <= set(in_group)
    page.get_by_test_id("asof-filter").select_option("")
    settled(page)

    # A pupil → who had custody then, the proof, their whole day, their custodian's shift.
    target = held["pupils"][0]
    page.locator(f"[data-testid=asof-row][data-pupil-id='{target}'] [data-testid=asof-pupil]").click()
    card = page.get_by_test_id("custody-at")
    expect(card.get_by_test_id("custody-answer")).to_be_visible()
    custody = ok(served.client(SAFETY_OFFICER).get(f"/v1/pupils/{target}/custody",
                                                   params={"at": at, "session": SESSION}))
    expect(card.get_by_test_id("custody-answer")).to_have_attribute("data-status", custody["status"])
    if custody["custodian"]:
        expect(card.get_by_test_id("custody-answer")).to_contain_text(custody["custodian"]["name"])
    for side in ("before", "after"):
        if custody[side]:
            expect(card.get_by_test_id(f"proof-{side}")).to_have_attribute(
                "data-position", str(custody[side]["position"]))
    card.get_by_test_id("pupil-day-open").click()
    day = ok(served.client(SAFETY_OFFICER).get(f"/v1/pupils/{target}/day", params={"day": at[:10]}))
    expect(page.get_by_test_id("pupil-day").get_by_test_id("history-entry")).to_have_count(len(day["entries"]))
    if custody["custodian"]:
        card.get_by_test_id("custodian-shift").click()
        shift = ok(served.client(SAFETY_OFFICER).get(f"/v1/staff/{custody['custodian']['staff_id']}/shift",
                                                     params={"day": at[:10]}))
        expect(page.get_by_test_id("staff-shift").get_by_test_id("history-entry")).to_have_count(len(shift["entries"]))
    page.screenshot(path=artifacts / "41-asof-custody.png", full_page=True)
    school = ok(served.client(ADMIN).get("/v1/school"))
    teacher_id = next(m["staff_id"] for m in school["staff"] if m["name"] == teacher)
    page.get_by_test_id("asof-staff").select_option(teacher_id)  # any staff member's shift
    shift = ok(served.client(SAFETY_OFFICER).get(f"/v1/staff/{teacher_id}/shift", params={"day": at[:10]}))
    assert any(e["what"] == "signed_in" for e in shift["entries"])
    expect(page.get_by_test_id("staff-shift").get_by_test_id("history-entry")).to_have_count(len(shift["entries"]))
    assert not untranslated(page), untranslated(page)

    page.get_by_test_id("lang").click()
    expect(page.get_by_test_id("asof-status")).to_contain_text(re.compile("At \\d\\d:\\d\\d"))
    page.screenshot(path=artifacts / "41-asof-english.png", full_page=True)


def test_a_photo_uploaded_on_the_incidents_page_is_kept_and_shown_as_a_thumbnail(
        context: BrowserContext, served: Served, artifacts: Path, tmp_path: Path) -> None:
    safety = served.client(SAFETY_OFFICER)
    roster = ok(safety.get("/v1/roster"))["pupils"]
    pupil = roster[len(roster) // 2]
    incident = ok(safety.post("/v1/incidents", json={
        "kind": "illness", "severity": "minor", "description": "自述头晕，已在医务室休息",
        "pupil_ids": [pupil["pupil_id"]], "where": "医务室"}), 201)
    photo = a_photo(tmp_path / "体温记录.jpg", "orange")

    page = context.new_page()
    sign_in(page, served, SAFETY_OFFICER)
    page.get_by_test_id("tab-incidents").click()
    page.get_by_test_id("incident").filter(has_text="身体不适").filter(has_text=pupil["name"]).first.click()
    detail = page.get_by_test_id("incident-detail")
    expect(detail).to_contain_text("自述头晕")
    detail.get_by_test_id("attachment-caption").fill("体温 37.9")
    detail.get_by_test_id("attachment-file").set_input_files(str(tmp_path / "体温记录.jpg"))
    thumb = detail.get_by_test_id("attachment-thumb")
    expect(thumb).to_be_visible(timeout=15000)
    expect(thumb).to_have_attribute("src", re.compile("^blob:"))  # fetched with the token, not a URL token
    assert page.evaluate("(img) => img.naturalWidth", thumb.element_handle()) == 320
    expect(detail.locator("[data-step='attached']")).to_contain_text("体温记录.jpg")
    detail.get_by_test_id("incident-timeline-open").click()  # its steps with the pupil's chain
    timeline = ok(safety.get(f"/v1/incidents/{incident['incident_id']}/timeline"))["entries"]
    shown = detail.get_by_test_id("incident-timeline").get_by_test_id("history-entry")
    expect(shown).to_have_count(len(timeline))
    expect(detail.locator("[data-testid=incident-timeline] [data-what='attached']")).to_contain_text("附件")
    page.screenshot(path=artifacts / "42-incident-attachment.png", full_page=True)
    assert not untranslated(page) - {"jpg"}, untranslated(page)  # the file's own name is shown as sent
    (tmp_path / "残缺.jpg").write_bytes(photo[: len(photo) // 2])  # a photo cut short in sending
    detail.get_by_test_id("attachment-file").set_input_files(str(tmp_path / "残缺.jpg"))
    said = detail.get_by_test_id("attachment-said")
    expect(said).to_contain_text("残缺.jpg 未保存")
    expect(said).to_contain_text("重新拍摄")
    assert "Truncated" not in said.inner_text() and "image" not in said.inner_text()
    assert not small_targets(page), small_targets(page)

    kept = ok(safety.get(f"/v1/incidents/{incident['incident_id']}"))["attachments"]
    assert [(a["sha256"], a["caption"], a["file_name"]) for a in kept] == [
        (hashlib.sha256(photo).hexdigest(), "体温 37.9", "体温记录.jpg")]
    r = safety.get(f"/v1/incidents/{incident['incident_id']}/attachments/{kept[0]['sha256']}")
    assert r.status_code == 200 and r.content == photo
    r = served.client(TEACHER).get(f"/v1/incidents/{incident['incident_id']}/attachments/{kept[0]['sha256']}")
    assert r.status_code == 403


def test_the_teachers_phone_attaches_a_photo_to_a_report(browser: Browser, served: Served, artifacts: Path,
                                                         tmp_path: Path) -> None:
    photo = a_photo(tmp_path / "地面.jpg", "grey")
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",  # type: ignore[arg-type]
                              has_touch=True, is_mobile=True)
    try:
        page = ctx.new_page()
        page.goto(f"{served.base}/app/")
        page.get_by_test_id("token").fill(served.tokens[TEACHER])
        page.get_by_test_id("signin").click()
        page.get_by_test_id("tab-incident").click()
        page.get_by_test_id("kind-property").click()
        page.get_by_test_id("incident-text").fill("教室地面积水，已放警示牌")
        page.get_by_test_id("incident-photo-file").set_input_files(str(tmp_path / "地面.jpg"))
        expect(page.get_by_test_id("incident-photo")).to_contain_text("1")
        page.screenshot(path=artifacts / "t20-incident-photo.png", full_page=True)
        page.get_by_test_id("incident-submit").click()
        expect(page.get_by_test_id("said-ok")).to_contain_text("已附 1 张照片")
    finally:
        ctx.close()
    found = ok(served.client(SAFETY_OFFICER).get("/v1/incidents", params={"kind": "property"}))["incidents"]
    [mine] = [i for i in found if i["description"] == "教室地面积水，已放警示牌"]
    assert mine["attachments"] == 1
    full = ok(served.client(SAFETY_OFFICER).get(f"/v1/incidents/{mine['incident_id']}"))
    assert full["attachments"][0]["sha256"] == hashlib.sha256(photo).hexdigest()
