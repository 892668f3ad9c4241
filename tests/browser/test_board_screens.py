"""The duty leader's board, the safety officer's screens, the inspector's read-only view and
device pairing, in a real browser: the board shows every group and gate with its counts and
custodians and follows the stream; an alert is acknowledged and resolved from it; the safety
officer reads an alert's history, a pupil's afternoon and an incident and records a guardian
call; the inspector is shown no control that writes and sends nothing that writes; a gate tablet
pairs with the code an admin issued and lands on its gate, a duty board on the board."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from tests.browser.conftest import AXE, LANDSCAPE, PORTRAIT, Served

ADMIN = "王建华"
DUTY_LEADER = "孙立军"
SAFETY_OFFICER = "周敏"
INSPECTOR = "吴志刚"
GUARD = "马德胜"  # the second guard, at the south gate (the gate screen's tests use the east gate)
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
CATALOGUE_KEY = re.compile(r"\b[a-z_]+\.[a-z_.-]+\b")


@dataclass
class Scene:
    """A group with pupils in its teacher's care, pupils at the south gate, a refused release
    there (an alert and an attempted-collection incident) and an injury in the group (an alert
    until the guardian is reached)."""

    group: dict[str, Any]
    teacher: str
    in_group: list[dict[str, Any]]
    at_gate: list[dict[str, Any]]
    spare: dict[str, Any]  # signed in at the gate while the board watches
    refused_alert: str
    injured: dict[str, Any]
    injury: str
    injury_alert: str


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def open_alert(client: httpx.Client, kind: str, pupil_id: str) -> str:
    """The open alert of that kind about the pupil, once the alerts view has caught up."""
    deadline = time.monotonic() + 15
    while True:
        alerts = ok(client.get("/v1/alerts", params={"status": "open", "kind": kind}))["alerts"]
        found = [a["alert_id"] for a in alerts if a["subject"].get("pupil_id") == pupil_id]
        if found or time.monotonic() > deadline:
            assert found, f"no open {kind} alert for {pupil_id}"
            return str(found[0])
        time.sleep(0.2)


@pytest.fixture(scope="module")
def scene(served: Served) -> Scene:
    admin = served.client(ADMIN)
    school = ok(admin.get("/v1/school"))
    staff = {s["staff_id"]: s["name"] for s in ok(admin.get("/v1/staff"))}
    # The last homework group, its pupils from the end of the roster: clear of the gate's tests.
    group = [g for g in school["groups"] if g["kind"] == "homework"][-1]
    teacher_name = staff[group["teacher_id"]]
    rows = [r for r in reversed(ok(admin.get("/v1/roster"))["pupils"])
            if r["homework_group_id"] == group["group_id"] and r["status"] == "not_handed_over"]
    plain = [r for r in rows[:12] if not ok(admin.get(f"/v1/pupils/{r['pupil_id']}"))["restrictions"]]
    in_group, at_gate, spare = plain[:3], plain[3:5], plain[5]
    teacher, guard = served.client(teacher_name), served.client(GUARD)
    south = served.gates["南门"]
    ok(teacher.post("/v1/sign-ins", json={"pupil_ids": [p["pupil_id"] for p in in_group],
                                          "place_id": group["group_id"]}))
    ok(guard.post("/v1/sign-ins", json={"pupil_ids": [p["pupil_id"] for p in at_gate], "place_id": south}))
    ok(guard.post("/v1/refusals", json={"pupil_id": at_gate[0]["pupil_id"], "gate_id": south,
                                        "adult": {"name": "张三"}, "reason": "说不出学生的班级"}))
    injured = in_group[0]
    injury = ok(teacher.post("/v1/incidents", json={
        "kind": "injury", "severity": "minor", "description": "跳绳时摔倒，膝盖擦伤",
        "pupil_ids": [injured["pupil_id"]], "place_id": group["group_id"], "first_aid": "清洗、消毒、贴创可贴",
    }), 201)["incident_id"]
    refused = open_alert(admin, "release_refused", at_gate[0]["pupil_id"])
    told = open_alert(admin, "incident_guardian", injured["pupil_id"])
    return Scene(group, teacher_name, in_group, at_gate, spare, refused, injured, injury, told)


def sign_in(page: Page, served: Served, name: str) -> None:
    page.goto(f"{served.base}/app/")
    page.get_by_test_id("token").fill(served.tokens[name])
    page.get_by_test_id("signin").click()
    expect(page.get_by_test_id("net")).to_have_text(re.compile("在线"))


FORMAT_NAMES = {"English", "Excel", "CSV"}  # the switch in its language; file formats by their names


def untranslated(page: Page) -> set[str]:
    """Catalogue keys or English words shown on a Chinese screen."""
    text = page.locator("body").inner_text()
    return set(CATALOGUE_KEY.findall(text)) | set(ENGLISH_WORD.findall(text)) - FORMAT_NAMES


def small_targets(page: Page) -> list[str]:
    """Visible controls smaller than 48 × 48 CSS px (a checkbox counts with its label)."""
    found: list[str] = page.evaluate("""() => [...document.querySelectorAll('button, select, input, summary, a[href]')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e, (e.type === 'checkbox' && e.closest('label')) || e])
        .map(([e, box]) => [e.outerHTML.slice(0, 90), box.getBoundingClientRect()])
        .filter(([, r]) => r.height < 48 || r.width < 48)
        .map(([html, r]) => `${html} ${Math.round(r.width)}x${Math.round(r.height)}`)""")
    return found


def serious_violations(page: Page) -> list[Any]:
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate("""async () => (await axe.run(document)).violations
        .map(v => ({id: v.id, impact: v.impact, help: v.help, html: v.nodes.slice(0, 2).map(n => n.html)}))""")
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def test_the_board_shows_every_group_and_gate_live_and_an_alert_is_acknowledged_and_resolved(
        context: BrowserContext, served: Served, scene: Scene, artifacts: Path) -> None:
    page = context.new_page()
    sign_in(page, served, DUTY_LEADER)
    expect(page.get_by_role("heading", name=re.compile("值班看板"))).to_be_visible()
    school = served.client(ADMIN).get("/v1/school").json()
    expect(page.get_by_test_id("place")).to_have_count(len(school["groups"]) + len(school["gates"]))
    group = page.locator(f"[data-place-id='{scene.group['group_id']}']")
    expect(group.get_by_test_id("place-here")).to_have_text(str(len(scene.in_group)))
    expect(group.get_by_test_id("place-holders")).to_contain_text(scene.teacher)
    gate = page.locator(f"[data-place-id='{served.gates['南门']}']")
    expect(gate.get_by_test_id("place-here")).to_have_text(str(len(scene.at_gate)))
    expect(gate.get_by_test_id("place-holders")).to_contain_text(GUARD)
    alert = page.locator(f"[data-alert-id='{scene.refused_alert}']")
    expect(alert).to_contain_text(scene.at_gate[0]["name"])
    expect(alert).to_contain_text("经办人拒绝放行")
    assert not untranslated(page), untranslated(page)
    assert not serious_violations(page)
    assert not small_targets(page), small_targets(page)
    page.screenshot(path=artifacts / "21-board-landscape.png")

    # Live: a pupil signed in at the south gate and a refusal there show up without a reload.
    guard = served.client(GUARD)
    ok(guard.post("/v1/sign-ins", json={"pupil_ids": [scene.spare["pupil_id"]], "place_id": served.gates["南门"]}))
    expect(gate.get_by_test_id("place-here")).to_have_text(str(len(scene.at_gate) + 1), timeout=15000)
    open_before = int(page.get_by_test_id("open-alerts").inner_text())
    ok(guard.post("/v1/refusals", json={"pupil_id": scene.spare["pupil_id"], "gate_id": served.gates["南门"],
                                        "adult": {"name": "李四"}, "reason": "不在接送名单上"}))
    expect(page.get_by_test_id("alert").filter(has_text="李四")).to_be_visible(timeout=15000)
    # The board's count of alerts not yet resolved follows the school's (the watcher raises and
    # resolves others meanwhile, so the count is compared with the server's, not with before).
    deadline = time.monotonic() + 15
    while True:
        shown = int(page.get_by_test_id("open-alerts").inner_text())
        alerts = ok(served.client(ADMIN).get("/v1/alerts"))["alerts"]
        if shown == sum(1 for a in alerts if a["status"] != "resolved"):
            break
        assert time.monotonic() < deadline, (shown, open_before)
        page.wait_for_timeout(250)

    alert.get_by_test_id("alert-note").fill("已到南门，家长电话已打通")
    alert.get_by_test_id("acknowledge").click()
    expect(alert).to_have_attribute("data-status", "acknowledged")
    alert.get_by_test_id("alert-open").click()
    expect(alert.get_by_test_id("alert-acknowledged")).to_contain_text(DUTY_LEADER)
    page.screenshot(path=artifacts / "22-board-acknowledged.png")
    alert.get_by_test_id("resolve-how").select_option("handed_to_guardian")
    alert.get_by_test_id("alert-note").fill("已交给妈妈")
    alert.get_by_test_id("resolve").click()
    expect(alert).to_have_attribute("data-status", "resolved")
    expect(alert.get_by_test_id("alert-actions")).to_have_count(0)
    stored = served.client(ADMIN).get(f"/v1/alerts/{scene.refused_alert}").json()
    assert stored["acknowledged"]["note"] == "已到南门，家长电话已打通"
    assert stored["resolved"]["how"] == "handed_to_guardian" and stored["resolved"]["note"] == "已交给妈妈"
    assert stored["resolved"]["by"]["staff_name"] == DUTY_LEADER

    page.set_viewport_size(PORTRAIT)
    assert not serious_violations(page)
    page.screenshot(path=artifacts / "23-board-portrait.png")
    page.set_viewport_size(LANDSCAPE)
    page.get_by_test_id("lang").click()
    expect(page.get_by_role("heading", name=re.compile("Duty board"))).to_be_visible()
    expect(alert).to_contain_text("refused by the staff member")  # the alert's text, asked anew in English
    page.screenshot(path=artifacts / "24-board-english.png")
    page.get_by_test_id("lang").click()
    expect(page.get_by_role("heading", name=re.compile("值班看板"))).to_be_visible()


def test_the_safety_officer_reads_an_alerts_history_a_pupils_afternoon_and_an_incident(
        context: BrowserContext, served: Served, scene: Scene, artifacts: Path) -> None:
    page = context.new_page()
    sign_in(page, served, SAFETY_OFFICER)
    expect(page.get_by_role("heading", name=re.compile("安全管理"))).to_be_visible()
    alert = page.locator(f"[data-alert-id='{scene.injury_alert}']")
    alert.get_by_test_id("alert-open").click()
    expect(alert.get_by_test_id("alert-history")).to_contain_text("发出警报")
    page.screenshot(path=artifacts / "25-safety-alerts.png", full_page=True)
    assert not untranslated(page), untranslated(page)

    alert.get_by_test_id("alert-pupil").click()  # the alert's pupil, as a timeline
    expect(page.get_by_test_id("afternoon")).to_contain_text(scene.injured["name"])
    entries = page.get_by_test_id("chain-entry")
    expect(entries.first).to_have_attribute("data-type", "signed_in")
    expect(entries.first).to_contain_text(scene.teacher)
    expect(entries.first).to_contain_text(scene.group["name"])
    # The pupil's alerts with it (after their dismissal the watcher adds an unpicked one too).
    expect(page.get_by_test_id("pupil-alert").filter(has_text="事件待通知家长")).to_have_count(1)
    page.screenshot(path=artifacts / "26-safety-timeline.png")

    page.get_by_test_id("tab-incidents").click()
    page.get_by_test_id("incident").filter(has_text=scene.injured["name"]).click()
    detail = page.get_by_test_id("incident-detail")
    expect(detail).to_contain_text("跳绳时摔倒")
    expect(detail.get_by_test_id("guardians-pending")).to_contain_text(scene.injured["name"])
    expect(detail.get_by_test_id("step-close")).to_be_disabled()  # not before the family is told
    guardian = served.client(ADMIN).get(f"/v1/pupils/{scene.injured['pupil_id']}").json()["guardians"][0]["name"]
    detail.get_by_test_id("guardian-pick").filter(has_text=guardian).click()  # tapped, not typed
    expect(detail.get_by_test_id("guardian-name")).to_have_value(guardian)
    assert not small_targets(page), small_targets(page)
    page.screenshot(path=artifacts / "27-safety-incident.png", full_page=True)
    detail.get_by_test_id("guardian-submit").click()
    expect(detail.locator("[data-step='guardian_notified']")).to_contain_text(guardian)
    expect(detail.get_by_test_id("guardians-pending")).to_have_count(0)
    assert not untranslated(page), untranslated(page)
    page.screenshot(path=artifacts / "27-safety-incident-told.png", full_page=True)
    incident = served.client(ADMIN).get(f"/v1/incidents/{scene.injury}").json()
    assert incident["guardians_pending"] == []
    assert [s["step"] for s in incident["steps"]] == ["reported", "guardian_notified"]
    assert served.client(ADMIN).get(f"/v1/alerts/{scene.injury_alert}").json()["status"] == "resolved"

    page.get_by_test_id("lang").click()
    expect(page.get_by_role("heading", name=re.compile("Safety"))).to_be_visible()
    expect(detail.locator("[data-step='guardian_notified']")).to_contain_text("Guardian told")
    page.get_by_test_id("tab-alerts").click()
    expect(page.locator(f"[data-alert-id='{scene.injury_alert}']")).to_contain_text("Guardian not yet told")
    assert not CATALOGUE_KEY.findall(page.locator("body").inner_text())
    page.screenshot(path=artifacts / "27-safety-english.png", full_page=True)


WRITE_CONTROLS = ("[data-writes]", "[data-testid=acknowledge]", "[data-testid=resolve]",
                  "[data-testid=guardian-submit]", "[data-testid^=step-]")


def test_the_inspector_sees_everything_and_no_control_that_writes(
        context: BrowserContext, served: Served, scene: Scene, artifacts: Path) -> None:
    page = context.new_page()
    writes: list[str] = []

    def record(request: Request) -> None:
        if request.method != "GET" and not request.url.endswith("/v1/stream/tickets"):
            writes.append(f"{request.method} {request.url}")

    page.on("request", record)
    sign_in(page, served, INSPECTOR)
    expect(page.get_by_role("heading", name=re.compile("督导查看"))).to_be_visible()
    expect(page.get_by_test_id("alert").first).to_be_visible()
    for control in WRITE_CONTROLS:
        expect(page.locator(control)).to_have_count(0)
    page.screenshot(path=artifacts / "28-inspector-alerts.png")

    page.get_by_test_id("tab-timeline").click()
    page.get_by_test_id("timeline-search").fill(scene.at_gate[0]["name"])
    page.get_by_test_id("timeline-pick").first.click()
    expect(page.locator("[data-testid=chain-entry][data-type=release_refused]")).to_contain_text("张三")

    page.get_by_test_id("tab-incidents").click()
    page.get_by_test_id("incident").filter(has_text=scene.at_gate[0]["name"]).click()
    expect(page.get_by_test_id("incident-detail")).to_contain_text("张三")
    for control in WRITE_CONTROLS:
        expect(page.locator(control)).to_have_count(0)
    page.screenshot(path=artifacts / "29-inspector-incident.png")

    page.get_by_test_id("tab-exports").click()
    page.get_by_test_id("export-group").select_option(scene.group["group_id"])
    with page.expect_download() as care:
        page.get_by_test_id("export-care-xlsx").click()
    assert care.value.suggested_filename.endswith(".xlsx") and "看护日志" in care.value.suggested_filename
    with page.expect_download() as publication:
        page.get_by_test_id("export-publication").click()
    assert publication.value.suggested_filename.endswith(".xlsx")
    assert not untranslated(page), untranslated(page)
    page.screenshot(path=artifacts / "30-inspector-exports.png")
    assert writes == [], writes


def test_a_gate_tablet_pairs_with_a_code_and_lands_on_its_gate_a_board_on_the_board(
        browser: Browser, served: Served, scene: Scene, artifacts: Path) -> None:
    admin = served.client(ADMIN)
    south = served.gates["南门"]
    tablet = ok(admin.post("/v1/devices", json={"name": "南门平板", "kind": "gate_tablet", "place_id": south}), 201)
    board = ok(admin.post("/v1/devices", json={"name": "值班室看板", "kind": "duty_board"}), 201)
    for code, viewport, shot in ((tablet["code"], LANDSCAPE, "31-paired-gate.png"),
                                 (board["code"], PORTRAIT, "32-paired-board.png")):
        ctx = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
        try:
            page = ctx.new_page()
            page.goto(f"{served.base}/app/")
            if shot.endswith("gate.png"):
                page.get_by_test_id("pair-code").fill("WRONG-000")
                page.get_by_test_id("pair").click()
                expect(page.get_by_test_id("pair-error")).to_contain_text("配对码不正确")
                page.screenshot(path=artifacts / "20-sign-in-pairing.png")
            page.get_by_test_id("pair-code").fill(code.lower())  # as typed: case and dashes do not matter
            page.get_by_test_id("pair").click()
            if shot.endswith("gate.png"):
                expect(page.get_by_role("heading", name=re.compile("校门放学 · 南门"))).to_be_visible()
                expect(page.get_by_test_id("gate-choice")).to_have_count(0)
                # A shared tablet asks for the guard on duty before it shows the gate.
                expect(page.get_by_test_id("guard-sign-on")).to_contain_text("请先签到")
            else:
                expect(page.get_by_role("heading", name=re.compile("值班看板"))).to_be_visible()
                expect(page.get_by_test_id("place").first).to_be_visible()
                for control in WRITE_CONTROLS:
                    expect(page.locator(control)).to_have_count(0)
            page.screenshot(path=artifacts / shot)
        finally:
            ctx.close()
    devices = {d["device_id"]: d["status"] for d in admin.get("/v1/devices").json()["devices"]}
    assert devices[tablet["device_id"]] == devices[board["device_id"]] == "paired"
