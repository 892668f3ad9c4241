"""A shared gate tablet through a guard's afternoon: paired by the admin's code, it asks for a
guard first; the guard picks their name and types their PIN, releases under their own name;
a colleague takes the gate over with the pupils waiting there; a release made offline keeps
the guard who made it; signing off asks for the PIN and leaves the tablet asking again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import SESSION, Served
from tests.browser.test_board_screens import serious_violations, small_targets
from tests.browser.test_gate_screen import collects_plainly, untranslated

ADMIN = "王建华"
SOUTH_GUARD = "赵卫东"  # the south gate's second guard
EAST_GUARD = "刘保国"  # 门卫（东门）, who takes the south gate over (the board's tests use 马德胜)
PINS = {SOUTH_GUARD: "2580", EAST_GUARD: "1397"}
DUTY_LEADER = "孙立军"


@dataclass
class Tablet:
    code: str
    device_id: str
    pupils: list[dict[str, Any]]  # at the south gate in the south guard's custody
    staff: dict[str, str]  # name → staff_id


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


@pytest.fixture(scope="module")
def tablet(served: Served) -> Tablet:
    admin = served.client(ADMIN)
    staff = {s["name"]: s["staff_id"] for s in ok(admin.get("/v1/staff"))}
    for name, pin in PINS.items():
        ok(admin.put(f"/v1/staff/{staff[name]}/pin", json={"pin": pin}))
    school = ok(admin.get("/v1/school"))
    # Pupils of the middle homework groups: clear of the gate's, the board's and the teacher's.
    groups = {g["group_id"] for g in [g for g in school["groups"] if g["kind"] == "homework"][1:-1]}
    rows = [r for r in ok(admin.get("/v1/roster"))["pupils"]
            if r["homework_group_id"] in groups and r["status"] == "not_handed_over"]
    picked: list[dict[str, Any]] = []
    for r in rows:
        f = ok(admin.get(f"/v1/pupils/{r['pupil_id']}"))
        if collects_plainly(f):
            picked.append({**r, **f})
        if len(picked) == 3:
            break
    south = served.gates["南门"]
    duty = ok(admin.get("/v1/duty"))
    if duty["roster"] is not None:  # a roster set by an earlier test: the tablet's guards on it
        ok(admin.put("/v1/duty/roster", json={
            "day": duty["day"], "leader_ids": [p["staff_id"] for p in duty["roster"]["leaders"]],
            "guards": [{"staff_id": staff[SOUTH_GUARD], "gate_id": south},
                       {"staff_id": staff[EAST_GUARD]}],
            "replaces": duty["roster"]["roster_no"]}))
    ok(served.client(SOUTH_GUARD).post("/v1/sign-ins", json={
        "pupil_ids": [p["pupil_id"] for p in picked], "place_id": south}))
    registered = ok(admin.post("/v1/devices", json={"name": "南门共用平板", "kind": "gate_tablet",
                                                    "place_id": south}), 201)
    return Tablet(registered["code"], registered["device_id"], picked, staff)


def afternoon(served: Served, pupil_id: str) -> dict[str, Any]:
    return dict(ok(served.client(ADMIN).get(f"/v1/pupils/{pupil_id}/afternoon", params={"session": SESSION})))


def type_pin(page: Page, pin: str) -> None:
    for digit in pin:  # on the big keypad, as with gloves
        page.get_by_test_id("guard-pin").get_by_role("button", name=digit, exact=True).click()
    page.get_by_test_id("guard-confirm").click()


def release(page: Page, pupil: dict[str, Any]) -> None:
    page.get_by_test_id("search").fill(pupil["name"])
    page.get_by_test_id("result").filter(has_text=pupil["name"]).first.click()
    guardian = next(g for g in pupil["guardians"] if g["may_collect"])
    page.get_by_test_id("collector").filter(has_text=guardian["name"]).click()
    page.get_by_test_id("check-known_to_staff").click()


def test_a_guard_signs_on_at_a_shared_tablet_releases_hands_over_and_signs_off(
        context: BrowserContext, served: Served, tablet: Tablet, artifacts: Path) -> None:
    page = context.new_page()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{served.base}/app/")
    page.get_by_test_id("pair-code").fill(tablet.code)
    page.get_by_test_id("pair").click()

    # No guard on duty: the tablet asks for one and shows no release at all.
    asking = page.get_by_test_id("guard-sign-on")
    expect(asking).to_contain_text("请先签到")
    expect(page.get_by_test_id("search")).to_have_count(0)
    assert not untranslated(page), untranslated(page)
    assert serious_violations(page) == [], serious_violations(page)
    page.screenshot(path=artifacts / "40-tablet-sign-on-first.png")

    asking.get_by_test_id("guard-choice").filter(has_text=SOUTH_GUARD).click()
    type_pin(page, "0000")
    expect(page.get_by_test_id("guard-error")).to_contain_text("密码不对")
    page.get_by_test_id("guard-pin-input").fill("")
    type_pin(page, PINS[SOUTH_GUARD])
    expect(page.get_by_test_id("guard-on-duty")).to_contain_text(SOUTH_GUARD)
    page.screenshot(path=artifacts / "41-tablet-guard-on-duty.png")

    first, second, third = tablet.pupils
    release(page, first)
    expect(page.get_by_test_id("result-ok")).to_be_visible()
    [released] = [e for e in afternoon(served, first["pupil_id"])["chain"] if e["type"] == "released"]
    assert (released["by"]["staff_id"], released["by"]["device"]) == (
        tablet.staff[SOUTH_GUARD], tablet.device_id)

    # The east-gate guard takes the south gate over, with the two pupils still waiting there.
    page.get_by_test_id("search").fill("")
    page.get_by_test_id("guard-on-duty").click()
    page.get_by_test_id("guard-take-over").filter(has_text=EAST_GUARD).click()
    held = [r for r in ok(served.client(ADMIN).get("/v1/roster"))["pupils"]
            if r["status"] == "in_custody" and r["place"]["id"] == served.gates["南门"]
            and r["custodian"]["staff_id"] == tablet.staff[SOUTH_GUARD]]
    assert {second["pupil_id"], third["pupil_id"]} <= {r["pupil_id"] for r in held}
    expect(page.get_by_test_id("guard-count")).to_have_value(str(len(held)))
    assert small_targets(page) == [], small_targets(page)  # the keypad is for gloved fingers
    assert serious_violations(page) == [], serious_violations(page)
    page.screenshot(path=artifacts / "42-tablet-take-over.png")
    type_pin(page, PINS[EAST_GUARD])
    expect(page.get_by_test_id("guard-on-duty")).to_contain_text(EAST_GUARD)
    for p in (second, third):
        assert afternoon(served, p["pupil_id"])["custodian"]["staff_id"] == tablet.staff[EAST_GUARD]

    # Offline: the release waits on the tablet under the guard who made it, through a reload.
    context.set_offline(True)
    release(page, second)
    expect(page.get_by_test_id("queue-count")).to_contain_text("1")
    page.reload()
    expect(page.get_by_test_id("queue-count")).to_contain_text("1")
    expect(page.get_by_test_id("waiting")).to_contain_text(EAST_GUARD)
    page.screenshot(path=artifacts / "43-tablet-offline-queue.png")
    context.set_offline(False)
    expect(page.get_by_test_id("queue-count")).to_contain_text("0", timeout=20000)
    state = afternoon(served, second["pupil_id"])
    [released] = [e for e in state["chain"] if e["type"] == "released"]
    assert state["status"] == "gone" and released["by"]["staff_id"] == tablet.staff[EAST_GUARD]
    assert released["by"]["device_time"] is not None

    # The duty leader cannot sign the guard off from the board while the guard holds pupils;
    # once they are handed to the duty leader, the board signs the guard off: the tablet's next
    # release is refused, and the tablet asks for a guard again; the same guard comes back with
    # their PIN, and the duty leader hands the pupils back to them at the gate.
    def held_at(name: str) -> dict[str, list[str]]:
        """The pupils in this person's custody, by place."""
        out: dict[str, list[str]] = {}
        for r in ok(served.client(ADMIN).get("/v1/roster"))["pupils"]:
            if r["status"] == "in_custody" and r["custodian"]["staff_id"] == tablet.staff[name]:
                out.setdefault(r["place"]["id"], []).append(r["pupil_id"])
        return out

    def held_by(name: str) -> list[str]:
        return held_at(name).get(served.gates["南门"], [])

    def hand(giver: str, to: str, pupil_ids: list[str], place_id: str | None = None) -> None:
        handed = ok(served.client(giver).post("/v1/handovers", json={
            "pupil_ids": pupil_ids, "count": len(pupil_ids), "to_staff_id": tablet.staff[to],
            "place_id": place_id or served.gates["南门"]}), 201)
        ok(served.client(to).post(f"/v1/handovers/{handed['handover_id']}/confirm",
                                  json={"count": len(pupil_ids)}))

    # Whatever the school's afternoon left with this guard elsewhere goes to the duty leader
    # first, and offers to them are withdrawn by their givers: what follows is about the pupils
    # at this gate.
    offers = {r["pending"]["handover_id"] for r in ok(served.client(ADMIN).get("/v1/roster"))["pupils"]
              if r.get("pending") and r["pending"]["to"]["staff_id"] == tablet.staff[EAST_GUARD]}
    for handover_id in offers:
        giver = ok(served.client(ADMIN).get(f"/v1/handovers/{handover_id}"))["giver"]["name"]
        ok(served.client(giver).post(f"/v1/handovers/{handover_id}/withdraw",
                                     json={"reason": "值班领导接手本门之前"}))
    for place_id, ids in held_at(EAST_GUARD).items():
        if place_id != served.gates["南门"]:
            hand(EAST_GUARD, DUTY_LEADER, ids, place_id)
    board_off = {"place_id": served.gates["南门"], "staff_id": tablet.staff[EAST_GUARD]}
    waiting = held_by(EAST_GUARD)
    assert third["pupil_id"] in waiting
    r = served.client(DUTY_LEADER).post("/v1/shifts/sign-off", json=board_off)
    assert r.status_code == 422 and r.json()["held"] == len(waiting), r.text
    hand(EAST_GUARD, DUTY_LEADER, waiting)
    r = served.client(DUTY_LEADER).post("/v1/shifts/sign-off", json=board_off)
    assert r.status_code == 200, r.text
    release(page, third)
    expect(page.get_by_test_id("guard-sign-on")).to_contain_text("请先签到", timeout=10000)
    expect(page.get_by_test_id("conflict")).to_contain_text("不在本门值班")
    assert afternoon(served, third["pupil_id"])["status"] == "in_custody"
    page.get_by_test_id("conflict-seen").click()
    page.get_by_test_id("guard-choice").filter(has_text=EAST_GUARD).click()
    type_pin(page, PINS[EAST_GUARD])
    expect(page.get_by_test_id("guard-on-duty")).to_contain_text(EAST_GUARD)
    hand(DUTY_LEADER, EAST_GUARD, waiting)

    # Signing off takes the PIN, and is refused while the guard still holds pupils here; once
    # they are handed on, the tablet asks for a guard again.
    page.get_by_test_id("guard-on-duty").click()
    page.get_by_test_id("guard-sign-off").click()
    type_pin(page, PINS[EAST_GUARD])
    expect(page.get_by_test_id("guard-error")).to_contain_text("不能签退：您还在本门看护")
    still = held_by(EAST_GUARD)
    assert third["pupil_id"] in still
    hand(EAST_GUARD, DUTY_LEADER, still)
    type_pin(page, PINS[EAST_GUARD])
    expect(page.get_by_test_id("guard-sign-on")).to_contain_text("请先签到")
    expect(page.get_by_test_id("search")).to_have_count(0)
    page.get_by_test_id("lang").click()
    expect(page.get_by_test_id("guard-sign-on")).to_contain_text("Sign on first")
    page.screenshot(path=artifacts / "44-tablet-signed-off-en.png")
    assert missing == [], missing  # the favicon too: nothing the browser asks for is missing
