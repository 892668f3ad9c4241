"""The admin's desk in a browser: register a gate tablet and read its code off the screen, the
tablet pairs with it, the admin sees it paired and revokes it (the tablet is signed out at its
next request); a guard's PIN is set from the staff list; the setup shows today's dismissals."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import LANDSCAPE, Served
from tests.browser.test_board_screens import serious_violations, small_targets
from tests.browser.test_gate_screen import untranslated

ADMIN = "王建华"
GUARD = "钱守门"  # a guard the admin hired today (the demo's own guards work in other tests)


def signed_in(page: Page, served: Served) -> None:
    page.goto(f"{served.base}/app/")
    page.get_by_test_id("token").fill(served.tokens[ADMIN])
    page.get_by_test_id("signin").click()
    expect(page.get_by_role("heading", name=re.compile("学校管理"))).to_be_visible()


def test_an_admin_registers_a_gate_tablet_it_pairs_with_the_code_shown_and_is_revoked(
        context: BrowserContext, browser: Browser, served: Served, artifacts: Path) -> None:
    page = context.new_page()
    signed_in(page, served)
    form = page.get_by_test_id("device-form")
    form.get_by_test_id("device-name").fill("东门二号平板")
    form.get_by_test_id("device-kind").select_option("gate_tablet")
    form.get_by_test_id("device-place").select_option(label="东门")
    form.get_by_test_id("device-register").click()
    shown = page.get_by_test_id("pairing-code")
    expect(shown).to_contain_text("东门二号平板")
    code = shown.locator(".code").inner_text()
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", code), code
    size = shown.locator(".code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 48, size  # read across a desk
    words = {w for w in untranslated(page) if w not in code}  # the code is letters and digits
    assert not words, words
    assert small_targets(page) == [], small_targets(page)
    assert serious_violations(page) == [], serious_violations(page)
    page.screenshot(path=artifacts / "50-admin-device-code.png")

    tablet_ctx = browser.new_context(viewport=LANDSCAPE, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        tablet = tablet_ctx.new_page()
        tablet.goto(f"{served.base}/app/")
        tablet.get_by_test_id("pair-code").fill(code)
        tablet.get_by_test_id("pair").click()
        expect(tablet.get_by_test_id("guard-sign-on")).to_be_visible()

        page.get_by_test_id("admin-tab-staff").click()
        page.get_by_test_id("admin-tab-devices").click()
        row = page.get_by_test_id("device").filter(has_text="东门二号平板")
        expect(row.get_by_test_id("device-status")).to_have_text("已配对")
        page.screenshot(path=artifacts / "51-admin-devices.png")
        row.get_by_test_id("device-revoke").click()
        expect(row.get_by_test_id("device-revoke")).to_contain_text("再点一次")
        row.get_by_test_id("device-revoke").click()
        expect(row.get_by_test_id("device-status")).to_have_text("已撤销")
        tablet.reload()
        expect(tablet.get_by_role("alert").first).to_contain_text("登录已失效")
    finally:
        tablet_ctx.close()


def test_an_admin_sets_a_guards_pin_and_reads_the_schools_setup(
        context: BrowserContext, served: Served, artifacts: Path) -> None:
    hired = served.client(ADMIN).post("/v1/staff", json={"name": GUARD, "roles": ["guard"]})
    assert hired.status_code == 201, hired.text
    page = context.new_page()
    signed_in(page, served)
    page.get_by_test_id("admin-tab-staff").click()
    guard = page.get_by_test_id("staff-member").filter(has_text=GUARD)
    guard.get_by_test_id("staff-pin").fill("1234")
    guard.get_by_test_id("staff-pin-set").click()
    expect(guard.get_by_role("status")).to_contain_text("未保存")  # a run of digits is refused
    guard.get_by_test_id("staff-pin").fill("4826")
    guard.get_by_test_id("staff-pin-set").click()
    expect(guard.get_by_role("status")).to_contain_text(f"已为 {GUARD} 设置签到密码")
    guard.get_by_test_id("staff-tokens").click()
    expect(guard.get_by_test_id("token").first).to_contain_text("有效")
    # A lost phone: every token of theirs revoked, a new one issued and shown once.
    guard.get_by_test_id("token-revoke-all").click()
    expect(guard.get_by_role("status").first).to_contain_text("已撤销 1 个令牌")
    expect(guard.get_by_test_id("token").first).to_contain_text("已撤销")
    old_token = hired.json()["token"]
    assert httpx.get(f"{served.base}/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    guard.get_by_test_id("token-issue").click()
    fresh = guard.get_by_test_id("token-issued").locator(".token-text").inner_text()
    assert fresh.startswith("hov_") and fresh != old_token
    assert httpx.get(f"{served.base}/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    expect(guard.get_by_test_id("token").filter(has_text="有效")).to_have_count(1)
    page.screenshot(path=artifacts / "52-admin-staff.png")
    # A new member of staff, hired at the desk with their first token shown once, then a role added.
    hire = page.get_by_test_id("staff-hire")
    hire.get_by_test_id("hire-name").fill("吴新来")
    hire.get_by_test_id("hire-roles-guard").check()
    hire.get_by_test_id("hire-submit").click()
    token = hire.get_by_test_id("hire-token").locator(".token-text").inner_text()
    me = httpx.get(f"{served.base}/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "吴新来", me.text
    newcomer = page.get_by_test_id("staff-member").filter(has_text="吴新来")
    newcomer.get_by_test_id("staff-roles-edit").click()
    newcomer.get_by_test_id("staff-roles-duty_leader").check()
    newcomer.get_by_test_id("staff-roles-save").click()
    expect(newcomer.get_by_role("status")).to_contain_text("已更新 吴新来 的角色")
    roles = {s["name"]: s["roles"] for s in served.client(ADMIN).get("/v1/school").json()["staff"]}
    assert sorted(roles["吴新来"]) == ["duty_leader", "guard", "teacher"]
    for shown_once in (hire.get_by_test_id("hire-token"), guard.get_by_test_id("token-issued")):
        shown_once.get_by_role("button").click()  # the tokens put away, the page is all Chinese
    assert not untranslated(page), untranslated(page)
    page.screenshot(path=artifacts / "52b-admin-staff-hired.png", full_page=True)
    # The day's duty roster is set from the admin's desk too.
    page.get_by_test_id("admin-tab-duty").click()
    expect(page.get_by_test_id("roster-form")).to_be_visible()
    expect(page.get_by_test_id("patrol-form")).to_have_count(0)  # patrols are the duty leader's
    # The school's signing keys and recent checkpoints are on the admin's desk.
    page.get_by_test_id("admin-tab-keys").click()
    expect(page.get_by_test_id("keys-list")).to_be_visible()
    page.get_by_test_id("admin-tab-setup").click()
    expect(page.get_by_test_id("setup-gates")).to_contain_text("东门")
    expect(page.get_by_test_id("setup-dismissals")).to_contain_text("17:00")
    assert not untranslated(page), untranslated(page)
    page.screenshot(path=artifacts / "53-admin-setup.png")
