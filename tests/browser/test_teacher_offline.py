"""A teacher's phone when the Wi-Fi drops in the classroom: the roll call and a day's leave
are kept on the phone (each with its Idempotency-Key and the phone's time), survive a reload,
and are sent when the network is back, each recorded once; one the service refuses meanwhile
(a pupil a colleague marked absent) is shown to the teacher, not dropped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import SESSION, Served
from tests.browser.test_teacher_screen import PHONE, checked

ADMIN = "王建华"
TEACHER = "宋佳"  # 课后服务教师: a homework group of her own, clear of the other screens' tests


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                              has_touch=True, is_mobile=True)
    try:
        yield ctx
    finally:
        ctx.close()


def chain(served: Served, pupil_id: str) -> dict[str, Any]:
    r = served.client(ADMIN).get(f"/v1/pupils/{pupil_id}/afternoon", params={"session": SESSION})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def roll_row(page: Page, name: str) -> Any:
    return page.locator(f'[data-testid="roll-pupil"][data-name="{name}"]')


def test_the_roll_call_made_offline_is_sent_once_when_the_network_is_back(
        phone: BrowserContext, served: Served, artifacts: Any) -> None:
    admin = served.client(ADMIN)
    school = admin.get("/v1/school").json()
    mine = next(s["staff_id"] for s in school["staff"] if s["name"] == TEACHER)
    group = next(g for g in school["groups"] if g["kind"] == "homework" and g["teacher_id"] == mine)
    rows = [r for r in admin.get("/v1/roster").json()["pupils"]
            if r["homework_group_id"] == group["group_id"] and r["status"] == "not_handed_over"
            and not r["pending"]]
    first, second, on_leave, taken = rows[:4]

    page = phone.new_page()
    page.goto(f"{served.base}/app/")
    page.get_by_test_id("token").fill(served.tokens[TEACHER])
    page.get_by_test_id("signin").click()
    expect(page.get_by_test_id("net")).to_have_text(re.compile("实时"))
    expect(roll_row(page, first["name"])).to_be_visible()

    phone.set_offline(True)
    for p in (first, second, taken):
        roll_row(page, p["name"]).get_by_test_id("sign-in").click()
        expect(page.get_by_test_id("said-queued")).to_contain_text(p["name"])
    expect(roll_row(page, first["name"]).get_by_test_id("sign-in")).to_have_count(0)  # counted here
    row = roll_row(page, on_leave["name"])
    row.get_by_test_id("absence-open").click()
    row.get_by_test_id("absence-leave").click()
    row.get_by_test_id("absence-reason").fill("家长来电请假")
    row.get_by_test_id("absence-submit").click()
    expect(page.get_by_test_id("queue-count")).to_contain_text("4")
    checked(page, artifacts, "t20-teacher-offline-queue")

    # Meanwhile the homeroom teacher, online, marks one of them absent.
    r = admin.post("/v1/absences", json={"pupil_id": taken["pupil_id"], "with_leave": False,
                                         "reason": "未到校", "session": SESSION})
    assert r.status_code == 200, r.text

    page.reload()  # the phone's queue outlives the page
    expect(page.get_by_test_id("queue-count")).to_contain_text("4")
    expect(page.get_by_test_id("waiting")).to_contain_text(first["name"])
    phone.set_offline(False)
    expect(page.get_by_test_id("queue-count")).to_contain_text("0", timeout=20000)
    conflict = page.get_by_test_id("conflict")
    expect(conflict).to_have_count(1)
    expect(conflict).to_contain_text(taken["name"])
    checked(page, artifacts, "t21-teacher-conflict")

    for p in (first, second):
        c = chain(served, p["pupil_id"])
        signed = [e for e in c["chain"] if e["type"] == "signed_in"]
        assert c["status"] == "in_custody" and c["custodian"]["name"] == TEACHER
        assert len(signed) == 1 and signed[0]["by"]["device_time"], signed
    leave = chain(served, on_leave["pupil_id"])
    assert leave["status"] == "absent" and leave["with_leave"] is True
    assert [e["type"] for e in leave["chain"]].count("absent") == 1
    assert chain(served, taken["pupil_id"])["status"] == "absent"
    conflict.get_by_test_id("conflict-seen").click()
    expect(page.get_by_test_id("conflict")).to_have_count(0)
