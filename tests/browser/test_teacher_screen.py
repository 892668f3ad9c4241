"""The teacher's phone as an afternoon uses it: the homeroom teacher hands the class over, the
after-school teacher confirms with a different count (the mismatch is shown), marks the missing
pupil on leave, moves two to a club whose teacher confirms, reports an injury, and walks the rest
to the gate; each step checked through the API. Chinese by default, English on the switch, no
serious accessibility violation (axe-core), touch targets of 48 CSS px, on a 390×844 phone."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.browser.conftest import AXE, SESSION, Served

PHONE: ViewportSize = {"width": 390, "height": 844}
ADMIN = "王建华"
GUARD = "马德胜"  # 门卫（南门）: the gate's own tests count the pupils coming to the east gate
SAFETY = "周敏"
AFTER_SCHOOL = "唐晓东"  # 三四年级混合作业组 (the gate's tests use 陈静's group)


@dataclass
class Afternoon:
    homeroom: str  # the homeroom teacher's name
    class_id: str
    group: dict[str, Any]  # the after-school teacher's homework group
    club: dict[str, Any]  # a club meeting today that the class's pupils belong to
    club_teacher: str
    pupils: list[dict[str, Any]]  # the class's roster rows, all not yet handed over
    staff: dict[str, str]  # name → staff_id


@pytest.fixture(scope="module")
def afternoon(served: Served) -> Afternoon:
    admin = served.client(ADMIN)
    school = admin.get("/v1/school").json()
    staff = {s["name"]: s["staff_id"] for s in school["staff"]}
    names = {v: k for k, v in staff.items()}
    group = next(g for g in school["groups"] if g["kind"] == "homework" and g["teacher_id"] == staff[AFTER_SCHOOL])
    roster = admin.get("/v1/roster").json()
    weekday = date.fromisoformat(roster["day"]).isoweekday()
    classes = {c["class_id"]: c for c in school["classes"]}
    rows = roster["pupils"]
    # The smallest class of the group whose pupils are all still with their homeroom teacher.
    untouched = [cid for cid in group["class_ids"] if all(
        r["status"] == "not_handed_over" and not r["pending"] for r in rows if r["class_id"] == cid)]
    class_id = min(untouched,
                   key=lambda cid: sum(1 for r in rows if r["class_id"] == cid))
    club = next((g for g in school["groups"] if g["kind"] == "club" and weekday in g["weekdays"]
                 and class_id in g["class_ids"] and g["teacher_id"]), None)
    if club is None:  # no club meets today (a weekend): one that does, taught by a club teacher
        teacher = next(g["teacher_id"] for g in school["groups"] if g["kind"] == "club")
        r = admin.post("/v1/school/groups", json={"name": "手工社", "kind": "club", "weekdays": [weekday],
                                                  "room": "美术教室", "class_ids": [class_id], "teacher_id": teacher})
        assert r.status_code == 201, r.text
        club = r.json()
    pupils = sorted((r for r in rows if r["class_id"] == class_id), key=lambda r: r["name"])
    return Afternoon(names[classes[class_id]["homeroom_teacher_id"]], class_id, group, club,
                     names[club["teacher_id"]], pupils, staff)


Phone = Callable[[str], Page]


@pytest.fixture
def phone(browser: Browser, served: Served) -> Iterator[Phone]:
    """A phone per teacher (a browser context: its own storage), signed in; all closed at the end."""
    opened: list[BrowserContext] = []

    def sign_in(name: str) -> Page:
        ctx = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  has_touch=True, is_mobile=True)
        opened.append(ctx)
        page = ctx.new_page()
        page.goto(f"{served.base}/app/")
        page.get_by_test_id("token").fill(served.tokens[name])
        page.get_by_test_id("signin").click()
        expect(page.get_by_role("heading", name="课后服务 · 教师")).to_be_visible()
        return page

    try:
        yield sign_in
    finally:
        for ctx in opened:
            ctx.close()


def state(served: Served, pupil_id: str) -> dict[str, Any]:
    r = served.client(ADMIN).get(f"/v1/pupils/{pupil_id}/afternoon", params={"session": SESSION})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def handover(served: Served, handover_id: str) -> dict[str, Any]:
    r = served.client(ADMIN).get(f"/v1/handovers/{handover_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
CATALOGUE_KEY = re.compile(r"\b[a-z_]+\.[a-z_.-]+\b")


def checked(page: Page, artifacts: Path, shot: str, chinese: bool = True) -> None:
    """The screen as it is: a screenshot, no untranslated word, no serious axe violation, and
    every visible button at least 48 CSS px each way."""
    page.screenshot(path=artifacts / f"{shot}.png")  # what the phone shows
    page.screenshot(path=artifacts / f"{shot}-full.png", full_page=True)
    text = page.locator("body").inner_text()
    words = set(CATALOGUE_KEY.findall(text)) | (set(ENGLISH_WORD.findall(text)) - {"English"} if chinese else set())
    assert not words, f"untranslated on {shot}: {words}"
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async () => (await axe.run(document)).violations
        .map(v => ({id: v.id, impact: v.impact, help: v.help, html: v.nodes.slice(0, 2).map(n => n.html)}))""")
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{shot}: {serious}"
    small = page.evaluate("""() => [...document.querySelectorAll('button, label.tick')]
        .map(b => [b.textContent.trim(), b.getBoundingClientRect()])
        .filter(([, r]) => r.width > 0 && (r.width < 48 || r.height < 48)).map(([t]) => t)""")
    assert not small, f"{shot}: touch targets under 48 px: {small}"


def test_an_afternoon_on_the_teachers_phone(phone: Phone, served: Served, afternoon: Afternoon,
                                            artifacts: Path) -> None:
    a = afternoon
    on_leave, pupils = a.pupils[-1], a.pupils[:-1]  # one has a day's leave the family told her of
    n = len(pupils)
    ids = [p["pupil_id"] for p in pupils]

    # The after-school teacher's phone is open: what is handed to them shows up live.
    teacher = phone(AFTER_SCHOOL)
    expect(teacher.get_by_test_id("net")).to_have_text(re.compile("实时"))
    expect(teacher.get_by_test_id("incoming-banner")).to_have_count(0)

    # The homeroom teacher hands the class over to the after-school teacher, with her count.
    home = phone(a.homeroom)
    # She runs no group today: her phone opens where her class is handed over.
    expect(home.get_by_test_id("tab-handover")).to_have_attribute("aria-current", "page")
    section = home.get_by_test_id("class-handover")
    expect(section.get_by_test_id("class-pupil")).to_have_count(n + 1)
    section.locator(f'[data-testid="class-pupil"][data-name="{on_leave["name"]}"]').uncheck()
    left_out = section.get_by_test_id("left-out")
    left_out.get_by_test_id("absence-leave").click()
    checked(home, artifacts, "t01-homeroom-leave")
    left_out.get_by_test_id("absence-submit").click()
    expect(home.get_by_test_id("said-ok")).to_contain_text(on_leave["name"])
    expect(section.get_by_test_id("class-pupil")).to_have_count(n)  # no longer to hand over
    leave = state(served, on_leave["pupil_id"])
    assert leave["status"] == "absent" and leave["with_leave"] is True
    expect(section.get_by_test_id("count-value")).to_have_text(str(n))
    checked(home, artifacts, "t02-homeroom-class-handover")
    section.get_by_test_id("class-handover-submit").click()
    expect(home.get_by_test_id("said-ok")).to_contain_text(AFTER_SCHOOL)
    expect(home.get_by_test_id("handover-result")).to_contain_text(f"交出 {n} 人")
    offered = state(served, ids[0])["pending"]
    assert offered["to"]["name"] == AFTER_SCHOOL and offered["place"]["id"] == a.group["group_id"]
    hid = offered["handover_id"]
    assert handover(served, hid)["count_given"] == n and sorted(handover(served, hid)["pupil_ids"]) == sorted(ids)

    # The after-school teacher: one pupil did not arrive; untick them, count one fewer, confirm.
    expect(teacher.get_by_test_id("incoming-banner")).to_contain_text(str(n))  # no reload
    checked(teacher, artifacts, "t03-roll-before")
    teacher.get_by_test_id("incoming-banner").click()
    offer = teacher.get_by_test_id("offer")
    expect(offer).to_contain_text(a.homeroom)
    expect(offer).to_contain_text(f"对方清点 {n} 人")
    missing = pupils[0]
    offer.locator(f'[data-testid="offer-pupil"][data-name="{missing["name"]}"]').uncheck()
    expect(offer.get_by_test_id("count-value")).to_have_text(str(n - 1))
    expect(offer.get_by_test_id("will-mismatch")).to_be_visible()
    checked(teacher, artifacts, "t04-confirm-with-own-count")
    offer.get_by_test_id("offer-confirm").click()
    mismatch = teacher.get_by_test_id("mismatch")
    expect(mismatch).to_contain_text("人数不符")
    expect(mismatch).to_contain_text(f"交出 {n} 人")
    expect(mismatch).to_contain_text(f"清点 {n - 1} 人")
    checked(teacher, artifacts, "t05-mismatch-shown")
    given = home.get_by_test_id("mismatch")  # the giver sees it too, without a reload
    expect(given).to_contain_text(f"清点 {n - 1} 人")
    expect(given).to_contain_text(missing["name"])
    checked(home, artifacts, "t05-mismatch-homeroom")
    h = handover(served, hid)
    assert h["status"] == "confirmed" and h["mismatch"] and h["count_received"] == n - 1
    assert missing["pupil_id"] not in h["received_pupil_ids"]
    assert state(served, missing["pupil_id"])["status"] == "not_handed_over"
    assert state(served, ids[1])["custodian"]["name"] == AFTER_SCHOOL

    # Roll call: the missing pupil's family had phoned: on leave. The counts follow.
    teacher.get_by_test_id("tab-roll").click()
    row = teacher.locator(f'[data-testid="roll-pupil"][data-name="{missing["name"]}"]')
    row.get_by_test_id("absence-open").click()
    row.get_by_test_id("absence-leave").click()
    row.get_by_test_id("absence-reason").fill("发烧，家长已请假")
    row.get_by_test_id("absence-submit").click()
    expect(teacher.get_by_test_id("said-ok")).to_contain_text(missing["name"])
    expect(row.get_by_test_id("mark")).to_have_text("请假")
    expect(teacher.get_by_test_id("n-absent")).to_have_text("2")  # with the one on leave from the class
    expect(teacher.get_by_test_id("n-here")).to_have_text(str(n - 1))
    checked(teacher, artifacts, "t06-roll-call")
    gone = state(served, missing["pupil_id"])
    assert gone["status"] == "absent" and gone["with_leave"] is True

    # Two go to their club: handed to the club teacher at the club's room, who confirms.
    club_pupils = pupils[1:3]
    teacher.get_by_test_id("tab-handover").click()
    move = teacher.get_by_test_id("move")
    for p in club_pupils:
        move.locator(f'[data-testid="move-pupil"][data-name="{p["name"]}"]').check()
    move.get_by_test_id("dest").filter(has_text=a.club["name"]).click()
    expect(move.get_by_test_id("count-value")).to_have_text("2")
    checked(teacher, artifacts, "t07-to-the-club")
    move.get_by_test_id("move-submit").click()
    expect(teacher.get_by_test_id("said-ok")).to_contain_text(a.club_teacher)
    for p in club_pupils:
        pending = state(served, p["pupil_id"])["pending"]
        assert pending["to"]["name"] == a.club_teacher and pending["place"]["id"] == a.club["group_id"]
    club = phone(a.club_teacher)
    club.get_by_test_id("tab-handover").click()
    club_offer = club.get_by_test_id("offer")
    expect(club_offer).to_contain_text(AFTER_SCHOOL)
    expect(club_offer.get_by_test_id("count-value")).to_have_text("2")
    club_offer.get_by_test_id("offer-confirm").click()
    expect(club.get_by_test_id("handover-result")).to_contain_text("人数一致")
    checked(club, artifacts, "t08-club-confirmed")
    club_move = club.get_by_test_id("move")  # and back, later: to their homework group's teacher
    club_move.locator(f'[data-testid="move-pupil"][data-name="{club_pupils[0]["name"]}"]').check()
    back = club_move.get_by_test_id("dest").filter(has_text=a.group["name"])
    expect(back).to_contain_text(AFTER_SCHOOL)
    back.click()
    club_move.get_by_test_id("move-submit").click()
    expect(club.get_by_test_id("said-ok")).to_contain_text(AFTER_SCHOOL)
    pending = state(served, club_pupils[0]["pupil_id"])["pending"]
    assert pending["to"]["name"] == AFTER_SCHOOL and pending["place"]["id"] == a.group["group_id"]
    club.get_by_test_id("withdraw-open").click()  # not yet: the concert rehearsal runs late
    club.get_by_test_id("withdraw-reason").filter(has_text="安排有变").click()
    expect(club.get_by_test_id("said-ok")).to_contain_text("已撤回")
    assert handover(served, pending["handover_id"])["status"] == "withdrawn"
    for p in club_pupils:
        s = state(served, p["pupil_id"])
        assert s["status"] == "in_custody" and s["custodian"]["name"] == a.club_teacher
        assert s["place"]["id"] == a.club["group_id"]

    # An injury: kind, severity, the pupil, what happened, first aid; a few taps and two lines.
    hurt = pupils[3]
    teacher.get_by_test_id("tab-incident").click()
    teacher.get_by_test_id("kind-injury").click()
    teacher.locator(f'[data-testid="incident-pupil"][data-name="{hurt["name"]}"]').check()
    teacher.get_by_test_id("incident-text").fill("跑动时摔倒，膝盖擦伤")
    teacher.get_by_test_id("incident-first-aid").fill("清洗伤口，贴创可贴")
    checked(teacher, artifacts, "t09-incident")
    teacher.get_by_test_id("incident-submit").click()
    expect(teacher.get_by_test_id("said-ok")).to_contain_text(hurt["name"])  # call the family
    found = served.client(SAFETY).get("/v1/incidents", params={"kind": "injury"}).json()["incidents"]
    mine = [i for i in found if i["pupil_ids"] == [hurt["pupil_id"]]]
    assert len(mine) == 1 and mine[0]["severity"] == "minor" and mine[0]["status"] == "open"
    full = served.client(SAFETY).get(f"/v1/incidents/{mine[0]['incident_id']}").json()
    assert full["first_aid"]["note"] == "清洗伤口，贴创可贴" and full["place"]["id"] == a.group["group_id"]

    # A care note for the group, and one pupil leaves early with a guardian on file.
    teacher.get_by_test_id("tab-roll").click()
    teacher.get_by_test_id("note-open").click()
    teacher.get_by_test_id("note-text").fill("作业完成情况良好，教室窗户已关好")
    teacher.get_by_test_id("note-submit").click()
    expect(teacher.get_by_test_id("said-ok")).to_contain_text("看护记录已保存")
    log = served.client(ADMIN).get("/v1/care-log", params={"group_id": a.group["group_id"]}).json()
    assert [n["text"] for n in log["notes"]].count("作业完成情况良好，教室窗户已关好") == 1
    early = pupils[-1]
    row = teacher.locator(f'[data-testid="roll-pupil"][data-name="{early["name"]}"]')
    row.get_by_test_id("early-open").click()
    row.get_by_test_id("early-collector").first.click()
    row.get_by_test_id("early-reason").fill("看牙医")
    row.get_by_test_id("early-informed").check()
    checked(teacher, artifacts, "t10-early-departure")
    row.get_by_test_id("early-submit").click()
    expect(teacher.get_by_test_id("said-ok")).to_contain_text(early["name"])
    left = state(served, early["pupil_id"])
    assert left["status"] == "gone" and left["gone"]["how"] == "left_early"

    # The rest walk to the south gate, to the guard there.
    rest = pupils[3:-1]
    teacher.get_by_test_id("tab-handover").click()
    move = teacher.get_by_test_id("move")
    group_pupils = move.get_by_test_id("move-pupil")
    expect(group_pupils).to_have_count(n - 4)  # those the teacher holds: the class less four
    move.get_by_test_id("move-pupil-all").click()
    move.get_by_test_id("dest").filter(has_text="南门").click()
    move.get_by_test_id("guard").filter(has_text=GUARD).click()
    checked(teacher, artifacts, "t11-to-the-gate")
    move.get_by_test_id("move-submit").click()
    expect(teacher.get_by_test_id("said-ok")).to_contain_text(GUARD)
    for p in rest:
        pending = state(served, p["pupil_id"])["pending"]
        assert pending["kind"] == "to_gate" and pending["to"]["name"] == GUARD
        assert pending["place"]["id"] == served.gates["南门"]
    expect(teacher.get_by_test_id("results")).to_contain_text(f"等待 {GUARD} 确认")

    # English on the switch, kept on the device.
    teacher.get_by_test_id("lang").click()
    expect(teacher.get_by_role("heading", name="After-school · Teacher")).to_be_visible()
    expect(teacher.get_by_test_id("tab-roll")).to_have_text("Roll call")
    expect(teacher.get_by_test_id("results")).to_contain_text("COUNTS DO NOT MATCH")
    checked(teacher, artifacts, "t12-english", chinese=False)
    teacher.get_by_test_id("tab-roll").click()
    checked(teacher, artifacts, "t13-english-roll", chinese=False)
    teacher.get_by_test_id("lang").click()
    expect(teacher.get_by_test_id("tab-roll")).to_have_text("点名")
