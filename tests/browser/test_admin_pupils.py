"""A pupil's record on the admin's desk, in a browser: found by name; a guardian added (a wrong
phone number shown at its field first); another adult authorised for a window and revoked with a
reason; a "do not release to" entry with relation, ID tail, document and validity shown in red and
lifted with a reason; a going-home-alone statement filed for two weekdays and withdrawn; a photo
uploaded (a file that is not one refused) and shown on the gate's card, fetched with the token."""

from __future__ import annotations

import re
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.conftest import LANDSCAPE, Served
from tests.browser.test_admin_screen import ADMIN, signed_in
from tests.browser.test_board_screens import serious_violations, small_targets
from tests.browser.test_gate_screen import sign_in as gate_sign_in
from tests.browser.test_gate_screen import untranslated

PUPIL = "孙小禾"  # registered by this test: the demo's own pupils are at the gate in other tests


def test_an_admin_keeps_a_pupils_record_guardians_authorisations_restrictions_and_statements(
        context: BrowserContext, served: Served, artifacts: Path) -> None:
    admin = served.client(ADMIN)
    today = date.today()
    until = today + timedelta(days=30)

    page = context.new_page()
    signed_in(page, served)
    page.get_by_test_id("admin-tab-pupils").click()
    # A pupil joining in the term is registered at the desk, their record then open.
    page.get_by_test_id("pupil-register-open").click()
    register = page.get_by_test_id("pupil-register")
    register.get_by_test_id("f-name").fill(PUPIL)
    register.get_by_test_id("f-guardian").fill("孙妈妈")
    register.get_by_test_id("f-relation").fill("母亲")
    register.get_by_test_id("f-phone").fill("13900001111")
    register.get_by_test_id("pupil-register-submit").click()
    record = page.get_by_test_id("pupil-record")
    expect(record.get_by_role("heading", name=PUPIL)).to_be_visible()
    [found] = [p for p in admin.get("/v1/pupils", params={"q": PUPIL}).json()["pupils"] if p["name"] == PUPIL]
    pupil_id = found["pupil_id"]
    expect(record.get_by_role("heading", name=PUPIL)).to_be_visible()
    expect(record.get_by_test_id("pupil-enrolment")).to_contain_text("未报名")
    expect(record.get_by_test_id("pupil-guardian")).to_have_count(1)

    guardian = page.get_by_test_id("guardian-form")
    guardian.get_by_test_id("f-name").fill("孙爸爸")
    guardian.get_by_test_id("f-relation").fill("父亲")
    guardian.get_by_test_id("f-phone").fill("12")
    guardian.get_by_test_id("guardian-add").click()
    expect(guardian.locator("[data-field='phone'] [data-testid='field-error']")).to_have_text("此项填写有误")
    expect(record.get_by_test_id("pupil-guardian")).to_have_count(1)  # nothing recorded
    guardian.get_by_test_id("f-phone").fill("13900002222")
    guardian.get_by_test_id("guardian-add").click()
    expect(record.get_by_role("status")).to_contain_text("已添加监护人 孙爸爸")
    expect(record.get_by_test_id("pupil-guardian")).to_have_count(2)

    auth = page.get_by_test_id("authorisation-form")
    auth.get_by_test_id("f-name").fill("孙姑姑")
    auth.get_by_test_id("f-relation").fill("姑姑")
    auth.get_by_test_id("f-given_by_guardian_id").select_option(label="孙妈妈")
    auth.get_by_test_id("f-valid_from").fill(today.isoformat())
    auth.get_by_test_id("f-valid_to").fill(until.isoformat())
    auth.get_by_test_id("authorisation-add").click()
    row = record.get_by_test_id("pupil-authorisation").filter(has_text="孙姑姑")
    expect(row).to_contain_text(f"{today.isoformat()} 至 {until.isoformat()}")
    expect(row).to_contain_text("有效")

    restriction = page.get_by_test_id("restriction-form")
    restriction.get_by_test_id("f-name").fill("孙大强")
    restriction.get_by_test_id("f-relation").fill("生父")
    restriction.get_by_test_id("f-id_tail").fill("123X")
    restriction.get_by_test_id("f-document").fill("（2026）京0105民初1234号")
    restriction.get_by_test_id("f-reason").fill("法院裁定由母亲抚养，禁止生父接走")
    restriction.get_by_test_id("f-valid_from").fill(today.isoformat())
    restriction.get_by_test_id("restriction-add").click()
    red = record.get_by_test_id("pupil-restriction").filter(has_text="孙大强")
    expect(red).to_contain_text("孙大强（生父）")
    expect(red).to_contain_text("身份证尾号 123X")
    expect(red).to_contain_text("京0105民初1234号")
    expect(red).to_contain_text("生效中")
    background = red.evaluate("e => getComputedStyle(e).backgroundColor")
    r, g, b = (int(x) for x in re.findall(r"\d+", background)[:3])
    assert r > 150 and g < 80 and b < 80, background  # red, unmistakably

    statement = page.get_by_test_id("statement-form")
    for d in (3, 4, 5):
        statement.get_by_test_id(f"weekday-{d}").uncheck()
    statement.get_by_test_id("f-given_by_guardian_id").select_option(label="孙妈妈")
    statement.get_by_test_id("f-document").fill("自行回家申请书")
    statement.get_by_test_id("f-valid_from").fill(today.isoformat())
    statement.get_by_test_id("f-valid_to").fill(until.isoformat())
    statement.get_by_test_id("statement-file").click()
    filed = record.get_by_test_id("pupil-statement")
    expect(filed).to_contain_text("周一、周二")
    expect(filed).to_contain_text("孙妈妈 签署")

    assert small_targets(page) == [], small_targets(page)
    assert serious_violations(page) == [], serious_violations(page)
    assert not untranslated(page) - {"X"}, untranslated(page)
    page.screenshot(path=artifacts / "54-admin-pupil-record.png", full_page=True)

    stored = admin.get(f"/v1/pupils/{pupil_id}").json()
    assert [(x["name"], x["relation"], x["id_tail"], x["document"], x["valid_from"], x["lifted"])
            for x in stored["restrictions"]] == [
        ("孙大强", "生父", "123X", "（2026）京0105民初1234号", today.isoformat(), False)]
    assert [(s["weekdays"], s["valid_to"]) for s in stored["statements"]] == [([1, 2], until.isoformat())]

    row.get_by_test_id("authorisation-revoke").click()
    row.get_by_test_id("authorisation-revoke-reason").fill("家长来电取消")
    row.get_by_test_id("authorisation-revoke-confirm").click()
    expect(row).to_contain_text("已撤销")
    red.get_by_test_id("restriction-lift").click()
    red.get_by_test_id("restriction-lift-reason").fill("法院撤销裁定")
    red.get_by_test_id("restriction-lift-confirm").click()
    expect(red).to_contain_text("已解除")
    expect(red).not_to_have_class(re.compile("restricted"))
    filed.get_by_test_id("statement-withdraw").click()
    expect(filed).to_contain_text("已撤回")
    page.screenshot(path=artifacts / "55-admin-pupil-record-lifted.png", full_page=True)

    stored = admin.get(f"/v1/pupils/{pupil_id}").json()
    assert [x["lifted"] for x in stored["restrictions"]] == [True]
    assert [a["revoked"] for a in stored["authorisations"]] == [True]
    assert [s["withdrawn"] for s in stored["statements"]] == [True]


def a_photo(size: tuple[int, int] = (900, 1200)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, "teal").save(out, "JPEG")
    return out.getvalue()


def test_an_admin_uploads_a_pupils_photo_and_the_gate_card_shows_it_fetched_with_the_token(
        context: BrowserContext, browser: Browser, served: Served, artifacts: Path) -> None:
    admin = served.client(ADMIN)
    roster = admin.get("/v1/roster").json()
    names = [p["name"] for p in roster["pupils"]]
    pupil = next(p for p in roster["pupils"] if names.count(p["name"]) == 1)
    page = context.new_page()
    signed_in(page, served)
    page.get_by_test_id("admin-tab-pupils").click()
    page.get_by_test_id("pupil-search").fill(pupil["name"])
    page.get_by_test_id("pupil-row").filter(has_text=pupil["name"]).first.click()
    photo = page.get_by_test_id("pupil-photo")
    photo.get_by_test_id("pupil-photo-file").set_input_files(
        {"name": "说明.txt", "mimeType": "text/plain", "buffer": "不是照片".encode()})
    expect(photo.get_by_role("status")).to_contain_text("只能上传照片")
    assert admin.get(f"/v1/pupils/{pupil['pupil_id']}").json()["photo_sha256"] is None
    photo.get_by_test_id("pupil-photo-file").set_input_files(
        {"name": "头像.jpg", "mimeType": "image/jpeg", "buffer": a_photo()})
    expect(photo.get_by_role("status")).to_contain_text("照片已保存")
    img = photo.get_by_test_id("pupil-photo-img")
    expect(img).to_have_attribute("src", re.compile(r"^blob:"))
    assert img.evaluate("e => e.complete && e.naturalHeight") == 600  # kept at 600 px, upright
    assert not untranslated(page), untranslated(page)
    assert small_targets(page) == [], small_targets(page)
    page.screenshot(path=artifacts / "63-admin-pupil-photo.png")
    sha = admin.get(f"/v1/pupils/{pupil['pupil_id']}").json()["photo_sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", sha)

    gate_ctx = browser.new_context(viewport=LANDSCAPE, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        gate = gate_ctx.new_page()
        asked: list[str] = []
        gate.on("request", lambda r: asked.append(r.url) if "/photo" in r.url else None)
        gate_sign_in(gate, served)
        gate.get_by_test_id("search").fill(pupil["name"])
        gate.get_by_test_id("result").filter(has_text=pupil["name"]).first.click()
        shown = gate.get_by_test_id("card-photo")
        expect(shown).to_have_attribute("src", re.compile(r"^blob:"))
        assert asked and all("token" not in u and "hov_" not in u for u in asked), asked
        gate.screenshot(path=artifacts / "64-gate-card-photo.png")
    finally:
        gate_ctx.close()
