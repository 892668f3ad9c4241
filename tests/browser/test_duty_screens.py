"""The duty (值班) in a real browser: the admin sets today's duty roster on /app/#duty; the duty leader,
on the phone, sees it beside the board, records a patrol round and presses 清校, which is refused
with what still blocks it named; the duty log comes as a PDF with the patrol in it."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect
from pypdf import PdfReader

from tests.browser.conftest import Served
from tests.browser.test_board_screens import serious_violations, small_targets
from tests.browser.test_board_screens import untranslated as untranslated_or_format

ADMIN = "王建华"
DUTY_LEADER = "孙立军"
SECOND_LEADER = "钱立新"  # the demo has one duty leader; the roster names two
GUARDS = ("刘保国", "马德胜")
PHONE: ViewportSize = {"width": 390, "height": 844}
DESK: ViewportSize = {"width": 1280, "height": 800}


def untranslated(page: Page) -> set[str]:
    """As the board's check, with the PDF named by its name like the other file formats."""
    return untranslated_or_format(page) - {"PDF"}


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


@pytest.fixture(scope="module")
def blocking_incident(served: Served) -> str:
    """A second duty leader on the staff, and an open critical incident: the school cannot be
    cleared while it is open, whatever the time of day the demo stands at."""
    admin = served.client(ADMIN)
    ok(admin.post("/v1/staff", json={"name": SECOND_LEADER, "roles": ["duty_leader"]}), 201)
    return str(ok(admin.post("/v1/incidents", json={
        "kind": "other", "severity": "critical", "description": "三楼消防通道被杂物堵住",
        "where": "三楼东侧"}), 201)["incident_id"])


def context_for(browser: Browser, viewport: ViewportSize) -> BrowserContext:
    return browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai",
                               accept_downloads=True)


@pytest.fixture
def desk(browser: Browser) -> Iterator[BrowserContext]:
    ctx = context_for(browser, DESK)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    ctx = context_for(browser, PHONE)
    try:
        yield ctx
    finally:
        ctx.close()


def sign_in(page: Page, served: Served, name: str, path: str = "/app/") -> None:
    page.goto(f"{served.base}{path}")
    page.get_by_test_id("token").fill(served.tokens[name])
    page.get_by_test_id("signin").click()
    expect(page.get_by_test_id("net")).to_have_text(re.compile("在线"))


def test_the_admin_sets_todays_duty_roster_and_the_duty_leader_patrols_and_is_told_what_blocks_clearing(
        desk: BrowserContext, phone: BrowserContext, served: Served, blocking_incident: str,
        artifacts: Path) -> None:
    page = desk.new_page()
    sign_in(page, served, ADMIN, "/app/#duty")
    form = page.get_by_test_id("roster-form")
    expect(form).to_be_visible()
    expect(page.get_by_test_id("duty-no-roster")).to_be_visible()
    expect(form.get_by_test_id("roster-guard-0").locator("option", has_text=GUARDS[0])).to_have_count(1)
    offered = form.get_by_test_id("roster-guard-0").locator("option").evaluate_all(
        "options => options.map(o => o.value)")
    assert offered and not [v for v in offered if v.startswith("device-")], offered  # people only
    form.get_by_test_id("roster-leader-0").select_option(label=DUTY_LEADER)
    form.get_by_test_id("roster-leader-1").select_option(label=SECOND_LEADER)
    form.get_by_test_id("roster-guard-0").select_option(label=GUARDS[0])
    form.get_by_test_id("roster-gate-0").select_option(label="东门")
    form.get_by_test_id("roster-guard-1").select_option(label=GUARDS[1])
    form.get_by_test_id("roster-gate-1").select_option(label="南门")
    form.get_by_test_id("roster-save").click()
    expect(page.get_by_test_id("duty-leaders")).to_have_text(f"{DUTY_LEADER}、{SECOND_LEADER}")
    expect(page.get_by_test_id("duty-guards")).to_contain_text(f"{GUARDS[1]}（南门）")
    assert not untranslated(page), untranslated(page)
    assert not serious_violations(page)
    page.screenshot(path=artifacts / "40-duty-admin-roster.png", full_page=True)
    stored = ok(served.client(ADMIN).get("/v1/duty"))["roster"]
    assert [p["name"] for p in stored["leaders"]] == [DUTY_LEADER, SECOND_LEADER]

    page = phone.new_page()
    sign_in(page, served, DUTY_LEADER)
    page.get_by_test_id("view-duty").click()
    expect(page.get_by_test_id("duty-leaders")).to_have_text(f"{DUTY_LEADER}、{SECOND_LEADER}")
    expect(page.get_by_test_id("roster-form")).to_have_count(0)  # the admin sets it
    page.get_by_test_id("patrol-place").fill("三楼走廊")
    page.get_by_test_id("patrol-seen").fill("各作业组秩序良好，东侧通道有杂物")
    page.get_by_test_id("patrol-notes").fill("已通知后勤")
    page.get_by_test_id("patrol-save").click()
    expect(page.get_by_test_id("patrol-said")).to_contain_text("三楼走廊")
    expect(page.get_by_test_id("patrol").last).to_contain_text("各作业组秩序良好")
    assert not small_targets(page), small_targets(page)
    page.screenshot(path=artifacts / "41-duty-leader-patrol.png", full_page=True)

    page.get_by_test_id("clear-school").click()
    blockers = page.get_by_test_id("blockers")
    expect(blockers).to_be_visible()
    # The demo school is shared by the browser tests: other tests' incidents may block it too.
    expect(blockers.locator("[data-kind=incident]").filter(has_text="其他")).to_have_count(1)
    expect(page.get_by_test_id("cleared")).to_have_count(0)
    assert not untranslated(page), untranslated(page)
    assert not serious_violations(page)
    page.get_by_test_id("blockers").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "42-duty-clearing-refused.png", full_page=True)
    duty = ok(served.client(ADMIN).get("/v1/duty"))
    assert duty["cleared"] is None
    refused = duty["clearing_refused"][-1]["blockers"]
    assert blocking_incident in {b["id"] for b in refused}
    others = [b for b in refused if b["kind"] != "pupil"]
    assert page.get_by_test_id("blocker").count() == len(others)
    held = page.get_by_test_id("blocker-pupils")  # the pupils still held, by where they are
    assert sum(int(held.nth(i).get_attribute("data-count") or 0) for i in range(held.count())) == (
        len(refused) - len(others))
    if held.count():
        held.first.locator("summary").click()
        expect(held.first.get_by_test_id("blocker-names")).to_be_visible()

    with page.expect_download() as pdf:
        page.get_by_test_id("duty-log-pdf").click()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(Path(pdf.value.path()).read_bytes())).pages)
    for words in ("值班记录", DUTY_LEADER, SECOND_LEADER, "三楼走廊", "未能清校", "三楼消防通道被杂物堵住"):
        assert words in text, words

    page.get_by_test_id("lang").click()
    expect(page.get_by_role("heading", name=re.compile("Patrol round"))).to_be_visible()
    expect(page.get_by_test_id("duty-leaders")).to_have_text(f"{DUTY_LEADER}, {SECOND_LEADER}")
    expect(page.get_by_test_id("blocker").first.locator("strong")).to_contain_text(re.compile(r"^\w+: "))
    for shown in page.get_by_test_id("blocker").locator("strong").all_inner_texts():
        assert "：" not in shown, shown
    page.screenshot(path=artifacts / "43-duty-english.png", full_page=True)
    page.get_by_test_id("lang").click()
