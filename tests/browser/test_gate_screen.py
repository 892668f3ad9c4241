"""The gate screen as a guard uses it: sign in, find a pupil, open the card, release in two taps,
refuse; offline: queue, reload, replay each exactly once and show a conflict; in Chinese by
default with a working English switch; no serious accessibility violation (axe-core)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import AXE, LANDSCAPE, PORTRAIT, SESSION, Served

GUARD = "刘保国"  # 门卫（东门）
TEACHER = "陈静"  # 课后服务教师, a homework group of grade 1
ADMIN = "王建华"


@dataclass
class Cast:
    """The pupils each flow uses, in the state the flow needs (set up through the API)."""

    plain: list[dict[str, Any]]  # at the east gate with the guard, nothing special on file
    restricted: dict[str, Any]  # at the east gate, with a do-not-release entry valid today
    siblings: tuple[dict[str, Any], dict[str, Any], str]  # at the east gate; the shared guardian
    coming: list[dict[str, Any]]  # handed over by their teacher to the guard, not yet confirmed


def _active(entry: dict[str, Any], today: str) -> bool:
    return (not entry.get("lifted") and (entry.get("valid_from") or "") <= today
            and (entry.get("valid_to") or "9999") >= today)


@pytest.fixture(scope="module")
def cast(served: Served) -> Cast:
    admin, guard, teacher = served.client(ADMIN), served.client(GUARD), served.client(TEACHER)
    roster = admin.get("/v1/roster").json()
    today = roster["day"]
    with ThreadPoolExecutor(6) as pool:  # every file, to find the cast: a few seconds
        found = pool.map(lambda pid: admin.get(f"/v1/pupils/{pid}").json(),
                         [r["pupil_id"] for r in roster["pupils"]])
        files = {f["pupil_id"]: f for f in found}
    names: dict[str, list[str]] = {}
    for pid, f in files.items():
        for g in f["guardians"]:
            names.setdefault(g["name"], []).append(pid)
    shared = {pid for pids in names.values() if len(pids) > 1 for pid in pids}
    rows = {r["pupil_id"]: r for r in roster["pupils"]}
    staff = {s["name"]: s["staff_id"] for s in admin.get("/v1/staff").json()}
    school = admin.get("/v1/school").json()
    group = next(g for g in school["groups"] if g["teacher_id"] == staff[TEACHER] and g["kind"] == "homework")

    def plain_ok(pid: str) -> bool:
        return pid not in shared and collects_plainly(files[pid])

    restricted = next(pid for pid, f in files.items()
                      if any(_active(r, today) for r in f["restrictions"]) and pid not in shared)
    pair_name, pair = next((n, pids) for n, pids in names.items()
                           if len(pids) == 2 and all(collects_plainly(files[p]) for p in pids))
    in_group = [pid for pid, r in rows.items() if r["homework_group_id"] == group["group_id"]
                and plain_ok(pid)]
    elsewhere = [pid for pid, r in rows.items() if r["homework_group_id"] != group["group_id"]
                 and plain_ok(pid)]
    plain, coming = elsewhere[:9], in_group[:2]
    east = served.gates["东门"]
    at_gate = [*plain, restricted, *pair]
    r = guard.post("/v1/sign-ins", json={"pupil_ids": at_gate, "place_id": east})
    assert r.status_code == 200, r.text
    r = teacher.post("/v1/sign-ins", json={"pupil_ids": coming, "place_id": group["group_id"]})
    assert r.status_code == 200, r.text
    r = teacher.post("/v1/handovers", json={"to_staff_id": staff[GUARD], "place_id": east,
                                            "count": len(coming), "pupil_ids": coming})
    assert r.status_code == 201, r.text
    return Cast(plain=[{**rows[p], **files[p]} for p in plain],
                restricted={**rows[restricted], **files[restricted]},
                siblings=({**rows[pair[0]], **files[pair[0]]}, {**rows[pair[1]], **files[pair[1]]},
                          pair_name),
                coming=[{**rows[p], **files[p]} for p in coming])


def collects_plainly(f: dict[str, Any]) -> bool:
    return not f["restrictions"] and not f["statements"] and any(g["may_collect"] for g in f["guardians"])


def sign_in(page: Page, served: Served, shots: Path | None = None) -> None:
    page.goto(f"{served.base}/app/")
    expect(page.get_by_test_id("signin-form")).to_be_visible()
    if shots:
        page.screenshot(path=shots / "01-sign-in.png")
    page.get_by_test_id("token").fill(served.tokens[GUARD])
    page.get_by_test_id("signin").click()
    expect(page.get_by_test_id("gate-choice")).to_be_visible()
    page.get_by_role("button", name="东门", exact=True).click()
    expect(page.get_by_test_id("here")).to_be_visible()


def chain_types(served: Served, pupil_id: str) -> list[str]:
    body = served.client(ADMIN).get(f"/v1/pupils/{pupil_id}/afternoon",
                                    params={"session": SESSION}).json()
    return [e["type"] for e in body["chain"]]


def status_of(served: Served, pupil_id: str) -> str:
    body = served.client(ADMIN).get(f"/v1/pupils/{pupil_id}/afternoon", params={"session": SESSION}).json()
    status: str = body["status"]
    return status


def report(artifacts: Path, capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n  {line}")
    with (artifacts / "timings.txt").open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def open_by_search(page: Page, query: str, name: str) -> float:
    """Type the query, tap the result; the ms from the tap to the card showing the pupil."""
    box = page.get_by_test_id("search")
    box.fill(query)
    result = page.get_by_test_id("result").filter(has_text=name).first
    expect(result).to_be_visible()
    started = time.perf_counter()
    result.click()
    expect(page.get_by_test_id("card").get_by_role("heading", name=name)).to_be_visible()
    expect(page.get_by_test_id("collector").first).to_be_visible()
    return (time.perf_counter() - started) * 1000


def test_release_and_refuse_at_the_gate(context: BrowserContext, served: Served, cast: Cast,
                                        artifacts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = context.new_page()
    sign_in(page, served, artifacts)
    here = page.get_by_test_id("here")
    expect(here.get_by_test_id("pupil")).to_have_count(len(cast.plain) + 3)
    expect(page.get_by_test_id("coming").get_by_test_id("pupil")).to_have_count(len(cast.coming))
    expect(page.get_by_test_id("net")).to_have_text(re.compile("在线"))
    page.screenshot(path=artifacts / "02-gate-landscape.png")

    # Search by pinyin initials, open the card, release in two taps: the adult, then the check.
    pupil = cast.plain[0]
    card_ms = open_by_search(page, pupil["initials"], pupil["name"])
    page.screenshot(path=artifacts / "03-card.png")
    guardian = next(g for g in pupil["guardians"] if g["may_collect"])
    page.get_by_test_id("collector").filter(has_text=guardian["name"]).click()
    started = time.perf_counter()
    page.get_by_test_id("check-known_to_staff").click()
    expect(page.get_by_test_id("result-ok")).to_be_visible()
    ack_ms = (time.perf_counter() - started) * 1000
    report(artifacts, capsys, f"card shown {card_ms:.0f} ms after tapping the search result; "
                              f"release acknowledged {ack_ms:.0f} ms after the second tap")
    page.screenshot(path=artifacts / "04-released.png")
    assert chain_types(served, pupil["pupil_id"]).count("released") == 1

    # A restricted adult: the card says so in red, with what to do; the guard refuses.
    bad = cast.restricted
    page.get_by_test_id("search").fill(bad["name"])
    page.get_by_test_id("result").filter(has_text=bad["name"]).first.click()
    alert = page.get_by_test_id("restriction")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(bad["restrictions"][0]["name"])
    expect(alert).to_contain_text("值班领导")
    color = alert.evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(163, 0, 27)", color  # unmistakable red
    page.screenshot(path=artifacts / "05-card-restricted.png")
    page.get_by_test_id("refuse-open").click()  # named and reasoned already: one tap to record
    expect(page.get_by_test_id("refuse-adult")).to_have_value(bad["restrictions"][0]["name"])
    expect(page.get_by_test_id("refuse-reason").filter(has_text="禁止接送名单")).to_have_attribute(
        "aria-pressed", "true")
    page.screenshot(path=artifacts / "06-refuse.png")
    page.get_by_test_id("refuse-submit").click()
    expect(page.get_by_test_id("result-ok")).to_be_visible()
    assert chain_types(served, bad["pupil_id"]).count("release_refused") == 1
    assert status_of(served, bad["pupil_id"]) == "in_custody"

    # Siblings to one adult at once.
    older, younger, shared = cast.siblings
    page.get_by_test_id("search").fill(older["name"])
    page.get_by_test_id("result").filter(has_text=older["name"]).first.click()
    page.get_by_test_id("collector").filter(has_text=shared).click()
    page.get_by_test_id("sibling").check()
    page.screenshot(path=artifacts / "07-siblings.png")
    page.get_by_test_id("check-id_card").click()
    expect(page.get_by_test_id("result-ok")).to_contain_text(younger["name"])
    for p in (older, younger):
        assert chain_types(served, p["pupil_id"]).count("released") == 1

    # A guardian phones: someone else may collect today, recorded at the gate, then released.
    phoned = cast.plain[7]
    page.get_by_test_id("search").fill(phoned["name"])
    page.get_by_test_id("result").filter(has_text=phoned["name"]).first.click()
    page.get_by_test_id("call-open").click()
    page.get_by_test_id("call-adult").fill("赵大伟")
    page.get_by_test_id("call-submit").click()
    expect(page.get_by_test_id("result-ok")).to_contain_text("赵大伟")
    page.get_by_test_id("collector").filter(has_text="赵大伟").click()
    page.get_by_test_id("check-id_card").click()
    expect(page.get_by_test_id("result-ok")).to_contain_text(phoned["name"])
    afternoon = served.client(ADMIN).get(f"/v1/pupils/{phoned['pupil_id']}/afternoon").json()
    assert afternoon["status"] == "gone" and afternoon["gone"]["adult"]["name"] == "赵大伟"

    # The live list: a release made elsewhere leaves the list without a reload.
    other = cast.plain[1]
    page.get_by_test_id("search").fill("")
    row = here.get_by_test_id("pupil").filter(has_text=other["name"])
    expect(row).to_be_visible()
    g = next(g for g in other["guardians"] if g["may_collect"])
    r = served.client(GUARD).post("/v1/releases", json={
        "pupil_ids": [other["pupil_id"]], "gate_id": served.gates["东门"],
        "identity_check": "id_card", "collector_id": g["guardian_id"]})
    assert r.status_code == 200, r.text
    expect(row).to_have_count(0)

    page.set_viewport_size(PORTRAIT)
    page.screenshot(path=artifacts / "08-gate-portrait.png")
    page.get_by_test_id("search").fill(cast.plain[2]["initials"])
    page.get_by_test_id("result").filter(has_text=cast.plain[2]["name"]).first.click()
    page.screenshot(path=artifacts / "08-card-portrait-open.png", full_page=True)


def test_offline_queue_replays_each_once_and_shows_the_conflicts(
        context: BrowserContext, served: Served, cast: Cast, artifacts: Path) -> None:
    page = context.new_page()
    sign_in(page, served)
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    page.reload()  # now under the service worker, which has the app shell
    page.wait_for_function("() => !!navigator.serviceWorker.controller")
    three, refused = cast.plain[3:6], cast.plain[6]
    for p in [*three, refused]:  # the files are on the device before the network goes
        page.get_by_test_id("search").fill(p["name"])
        page.get_by_test_id("result").filter(has_text=p["name"]).first.click()
        expect(page.get_by_test_id("collector").first).to_be_visible()

    context.set_offline(True)
    expect(page.get_by_test_id("net")).to_have_text(re.compile("离线"))
    for p in three:
        page.get_by_test_id("search").fill(p["name"])
        page.get_by_test_id("result").filter(has_text=p["name"]).first.click()
        g = next(g for g in p["guardians"] if g["may_collect"])
        page.get_by_test_id("collector").filter(has_text=g["name"]).click()
        page.get_by_test_id("check-call_to_guardian").click()
        expect(page.get_by_test_id("result-queued")).to_be_visible()
    page.get_by_test_id("search").fill(refused["name"])
    page.get_by_test_id("result").filter(has_text=refused["name"]).first.click()
    page.get_by_test_id("refuse-open").click()
    page.get_by_test_id("refuse-adult").fill("陌生人")
    page.get_by_test_id("refuse-reason").first.click()
    page.get_by_test_id("refuse-submit").click()
    expect(page.get_by_test_id("result-queued")).to_be_visible()
    expect(page.get_by_test_id("queue-count")).to_have_text(re.compile("4"))

    # One more release queued, to an adult the school restricts meanwhile: the rules decide again
    # when it replays, and the refusal comes back to the guard.
    barred = cast.plain[8]
    adult = next(g for g in barred["guardians"] if g["may_collect"])
    page.get_by_test_id("search").fill(barred["name"])
    page.get_by_test_id("result").filter(has_text=barred["name"]).first.click()
    page.get_by_test_id("collector").filter(has_text=adult["name"]).click()
    page.get_by_test_id("check-id_card").click()
    expect(page.get_by_test_id("queue-count")).to_have_text(re.compile("5"))
    r = served.client(ADMIN).post(f"/v1/pupils/{barred['pupil_id']}/restrictions", json={
        "name": adult["name"], "reason": "法院裁定（测试）"})
    assert r.status_code == 201, r.text

    # Meanwhile, the third is released at the other gate (another tablet, still online).
    late = three[2]
    g = next(g for g in late["guardians"] if g["may_collect"])
    r = served.client(GUARD).post("/v1/releases", json={
        "pupil_ids": [late["pupil_id"]], "gate_id": served.gates["南门"],
        "identity_check": "known_to_staff", "collector_id": g["guardian_id"]})
    assert r.status_code == 200, r.text

    assert page.evaluate("async () => !!(await caches.match('/app/'))")  # the shell is kept
    page.reload()  # offline: the shell comes from the service worker, the queue from IndexedDB
    expect(page.get_by_test_id("queue-count")).to_have_text(re.compile("5"))
    expect(page.get_by_test_id("waiting")).to_contain_text(three[0]["name"])
    page.screenshot(path=artifacts / "09-offline-queued.png")

    context.set_offline(False)
    expect(page.get_by_test_id("queue-count")).to_have_text(re.compile("0"), timeout=20000)
    conflict = page.get_by_test_id("conflict")
    expect(conflict).to_have_count(2)
    gone_elsewhere = conflict.filter(has_text=late["name"])
    expect(gone_elsewhere).to_contain_text(f"已由 {g['name']} 接走")  # what happened instead, and when
    expect(conflict.filter(has_text=barred["name"])).to_contain_text("禁止接送名单")
    page.screenshot(path=artifacts / "10-conflict.png")

    for p in three[:2]:
        assert chain_types(served, p["pupil_id"]).count("released") == 1
    assert chain_types(served, late["pupil_id"]).count("released") == 1
    assert chain_types(served, refused["pupil_id"]).count("release_refused") == 1
    assert chain_types(served, barred["pupil_id"]).count("release_refused") == 1
    assert status_of(served, barred["pupil_id"]) == "in_custody"
    gone_elsewhere.get_by_test_id("conflict-seen").click()  # seen: only now does it leave the screen
    expect(conflict).to_have_count(1)
    page.reload()  # what the guard has not seen stays, through a reload
    expect(page.get_by_test_id("conflict")).to_have_count(1)


ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
CATALOGUE_KEY = re.compile(r"\b[a-z_]+\.[a-z_.-]+\b")


def untranslated(page: Page) -> set[str]:
    """Catalogue keys or English words shown on a Chinese screen."""
    text = page.locator("body").inner_text()
    return set(CATALOGUE_KEY.findall(text)) | set(ENGLISH_WORD.findall(text)) - {"English"}


def test_chinese_by_default_english_on_the_switch_and_accessible(
        context: BrowserContext, served: Served, cast: Cast, artifacts: Path) -> None:
    page = context.new_page()
    page.goto(f"{served.base}/app/")
    expect(page.get_by_test_id("signin-form")).to_be_visible()
    assert not untranslated(page), untranslated(page)  # "English" is the switch, in its language
    sign_in(page, served)
    page.get_by_test_id("search").fill(cast.restricted["name"])
    page.get_by_test_id("result").filter(has_text=cast.restricted["name"]).first.click()
    expect(page.get_by_test_id("restriction")).to_be_visible()
    for screen in ("card", "list"):
        if screen == "list":
            page.get_by_test_id("card-close").click()
            page.get_by_test_id("search").fill("")
        assert not untranslated(page), f"untranslated on the {screen} screen: {untranslated(page)}"

    page.add_script_tag(path=str(AXE))
    page.get_by_test_id("search").fill(cast.restricted["name"])
    page.get_by_test_id("result").filter(has_text=cast.restricted["name"]).first.click()
    for viewport in (LANDSCAPE, PORTRAIT):
        page.set_viewport_size(viewport)
        violations = page.evaluate("""async () => (await axe.run(document)).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                        html: v.nodes.slice(0, 2).map(n => n.html)}))""")
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not serious, serious

    page.set_viewport_size(LANDSCAPE)
    page.get_by_test_id("lang").click()
    expect(page.get_by_role("heading", name=re.compile("Gate dismissal"))).to_be_visible()
    expect(page.get_by_test_id("restriction")).to_contain_text("DO NOT RELEASE TO")
    expect(page.get_by_test_id("queue-count")).to_have_text(re.compile("waiting to send"))
    page.screenshot(path=artifacts / "11-gate-english.png")
    page.reload()  # the choice is kept on the device
    expect(page.get_by_role("heading", name=re.compile("Gate dismissal"))).to_be_visible()
    page.get_by_test_id("lang").click()
    expect(page.get_by_role("heading", name=re.compile("校门放学"))).to_be_visible()
