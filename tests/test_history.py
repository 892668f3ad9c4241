"""The school as it stood at a past minute, and timelines, on a scripted afternoon (memory store).

The roster shown at several minutes during the run is kept; afterwards the roster rebuilt from
the log as of each of those minutes must be the same, the custody answer must name who held the
pupil and the events that prove it, and the timelines must hold every related event in order.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.projections import history
from service.projections.history import server_time
from service.use_cases.clock import FixedClock
from tests.builders import (
    SESSION_DAY,
    Staff,
    World,
    a_school,
    add_staff,
    handed_to_teacher,
    walked_to_gate,
)
from tests.conftest import SHANGHAI
from tests.stores import every_store

MINUTES = ("16:00", "16:20", "16:40", "16:50", "17:10", "17:20")


def at(clock: FixedClock, hhmm: str) -> None:
    h, m = (int(x) for x in hhmm.split(":"))
    clock.set(datetime.combine(datetime.fromisoformat(SESSION_DAY).date(), time(h, m), SHANGHAI))


def head(app: HandoverApp) -> int:
    return app.recorder.max_notification_id() or 0


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json())


def roster_now(world: World, app: HandoverApp) -> dict[str, Any]:
    return ok(world.client.get("/v1/roster", params={"min_position": head(app)}, headers=world.admin.h()))


def hand(world: World, giver: Staff, to: Staff, place: str, pupils: list[str]) -> None:
    r = ok(world.post(giver, "/v1/handovers", {"pupil_ids": pupils, "count": len(pupils),
                                              "to_staff_id": to.staff_id, "place_id": place}), 201)
    ok(world.post(to, f"/v1/handovers/{r['handover_id']}/confirm", {"count": len(pupils)}))


def afternoon(client: TestClient, app: HandoverApp, clock: FixedClock
              ) -> tuple[World, dict[str, Any], dict[str, dict[str, Any]]]:
    """A handover, a transfer to the club and back, an injury, the walk to the gate, a release;
    the roster as shown at each of MINUTES."""
    world = a_school(client, app, pupils=4)
    staff = {"safety": add_staff(client, world.admin, "孙安全", ["safety_officer"]),
             "duty": add_staff(client, world.admin, "周值班", ["duty_leader"])}
    shown: dict[str, dict[str, Any]] = {}
    at(clock, "15:50")
    ok(world.post(staff["duty"], "/v1/shifts/sign-on", {"place_id": "duty"}), 201)
    ok(world.post(world.teacher, "/v1/shifts/sign-on", {"place_id": world.group_id}), 201)
    at(clock, "16:00")
    handed_to_teacher(world)
    shown["16:00"] = roster_now(world, app)
    at(clock, "16:20")
    hand(world, world.teacher, world.club_teacher, world.club_id, [world.pupil(1)])
    shown["16:20"] = roster_now(world, app)
    at(clock, "16:40")
    incident = ok(world.post(world.teacher, "/v1/incidents", {
        "kind": "injury", "description": "跑步时摔倒，膝盖擦伤", "pupil_ids": [world.pupil(0)],
        "place_id": world.group_id, "where": "操场东侧", "first_aid": "冰敷"}), 201)
    ok(world.post(world.teacher, f"/v1/incidents/{incident['incident_id']}/guardian-notifications",
                  {"pupil_id": world.pupil(0), "guardian": "家长0", "how": "phone", "reached": True}))
    shown["16:40"] = roster_now(world, app)
    at(clock, "16:50")
    hand(world, world.club_teacher, world.teacher, world.group_id, [world.pupil(1)])
    shown["16:50"] = roster_now(world, app)
    at(clock, "17:10")
    walked_to_gate(world, [0, 1, 2])
    shown["17:10"] = roster_now(world, app)
    at(clock, "17:20")
    ok(world.post(world.guard, "/v1/releases", {
        "pupil_ids": [world.pupil(0)], "gate_id": world.gate_id, "identity_check": "known_to_staff",
        "collector_id": world.guardian(0)["guardian_id"]}))
    shown["17:20"] = roster_now(world, app)
    at(clock, "18:30")  # asked about afterwards
    return world, {**staff, "incident": incident}, shown


def as_of(world: World, hhmm: str, who: Staff | None = None, **params: str) -> Any:
    return world.client.get("/v1/roster/as-of", params={"at": f"{SESSION_DAY}T{hhmm}", **params},
                            headers=(who or world.admin).h())


def stored_at(app: HandoverApp, position: int) -> tuple[str, int]:
    [n] = app.recorder.select_notifications(start=position, limit=1)
    return str(n.originator_id), n.originator_version


@every_store  # positions, topics and ids as each recorder gives them back
def test_the_roster_as_of_each_minute_is_the_roster_shown_then(client: TestClient, app: HandoverApp,
                                                              clock: FixedClock) -> None:
    world, _, shown = afternoon(client, app, clock)
    now = roster_now(world, app)
    for hhmm in MINUTES:
        then = ok(as_of(world, hhmm))
        assert then["pupils"] == shown[hhmm]["pupils"], hhmm
        # The outbox may record a delivery at that minute after the roster was shown: the
        # position is the last event recorded by the end of the minute, wherever it came from.
        assert then["counts"] == shown[hhmm]["counts"] and then["position"] <= then["head"]
        [stored] = app.recorder.select_notifications(start=then["position"], limit=1)
        recorded = server_time(app.mapper.to_domain_event(stored))
        assert recorded is not None and recorded.strftime("%H:%M") == hhmm
        assert then["still_in_school"] == shown[hhmm]["still_in_school"]
    assert ok(as_of(world, "16:20"))["pupils"] != now["pupils"]  # not today's view
    club = ok(as_of(world, "16:30", group_id=world.club_id))
    assert [p["pupil_id"] for p in club["pupils"]] == [world.pupil(1)]
    gate = ok(as_of(world, "17:15", gate_id=world.gate_id))
    assert sorted(p["pupil_id"] for p in gate["pupils"]) == sorted(world.pupil(i) for i in (0, 1, 2))
    before = ok(as_of(world, "15:59"))
    assert before["counts"]["by_status"] == {"not_handed_over": 4}
    dawn = ok(world.client.get("/v1/roster/as-of", params={"at": "2026-11-22T07:00"}, headers=world.admin.h()))
    assert dawn["pupils"] == [] and dawn["position"] == 0  # before the school was set up
    # With an offset, and with seconds (then exactly that instant).
    utc = ok(as_of(world, "08:20+00:00"))  # 16:20 in Shanghai
    assert utc["pupils"] == shown["16:20"]["pupils"]
    assert ok(as_of(world, "16:19:59"))["pupils"] == shown["16:00"]["pupils"]


@every_store
def test_who_had_custody_at_a_minute_with_the_events_that_prove_it(client: TestClient, app: HandoverApp,
                                                                  clock: FixedClock) -> None:
    world, _, _ = afternoon(client, app, clock)
    path = f"/v1/pupils/{world.pupil(1)}/custody"
    found = ok(client.get(path, params={"at": f"{SESSION_DAY}T16:30"}, headers=world.admin.h()))
    assert found["status"] == "in_custody"
    assert found["custodian"]["staff_id"] == world.club_teacher.staff_id
    assert found["place"]["id"] == world.club_id
    before, after = found["before"], found["after"]
    assert before["what"] == "custody_taken" and before["who"]["staff_id"] == world.club_teacher.staff_id
    assert before["at"].startswith(f"{SESSION_DAY}T16:20") and before["where"]["id"] == world.club_id
    assert after["what"] == "custody_taken" and after["at"].startswith(f"{SESSION_DAY}T16:50")
    assert after["who"]["staff_id"] == world.teacher.staff_id
    assert before["position"] <= found["position"] < after["position"]
    for proof in (before, after):
        assert stored_at(app, proof["position"]) == (proof["aggregate_id"], proof["version"])
    gone = ok(client.get(f"/v1/pupils/{world.pupil(0)}/custody", params={"at": f"{SESSION_DAY}T17:45"},
                         headers=world.admin.h()))
    assert gone["status"] == "gone" and gone["custodian"] is None and gone["after"] is None
    assert gone["before"]["what"] == "released" and gone["before"]["where"]["id"] == world.gate_id
    early = ok(client.get(path, params={"at": f"{SESSION_DAY}T15:00"}, headers=world.admin.h()))
    assert early["status"] == "not_handed_over" and early["before"] is None
    assert early["after"]["what"] == "custody_taken" and early["after"]["at"].startswith(f"{SESSION_DAY}T16:00")


def _in_log_order(entries: list[dict[str, Any]]) -> None:
    positions = [e["position"] for e in entries]
    assert None not in positions and positions == sorted(positions) and len(set(positions)) == len(positions)


def test_the_incident_timeline_interleaves_its_steps_custody_and_duty(client: TestClient, app: HandoverApp,
                                                                     clock: FixedClock) -> None:
    world, staff, _ = afternoon(client, app, clock)
    timeline = ok(client.get(f"/v1/incidents/{staff['incident']['incident_id']}/timeline",
                             headers=staff["safety"].h()))
    entries = timeline["entries"]
    _in_log_order(entries)
    for e in entries:
        assert stored_at(app, e["position"]) == (e["aggregate_id"], e["version"])
    events = [e["event"] for e in entries]
    assert events.count("Incident.Reported") == 1 and events.count("Incident.GuardianNotified") == 1
    shifts = [e["event"] for e in entries if e["subject"]["kind"] == "shift"]
    # Each of the two on duty signed on, and their shift recorded the pupils they received.
    assert shifts.count("Shift.SignedOn") == 2 and set(shifts) == {"Shift.SignedOn", "Shift.PupilsReceived"}
    chain = [e["what"] for e in entries if e["subject"]["kind"] == "pupil_day"]
    assert chain == ["opened", "offered", "custody_taken", "offered", "custody_taken", "released"]
    reported = events.index("Incident.Reported")
    assert events[:reported].count("PupilDay.CustodyTaken") == 1  # the class handover came first
    assert events[reported + 2:].count("PupilDay.Released") == 1  # the release came after
    aid = next(e for e in entries if e["event"] == "Incident.Reported")
    assert aid["who"]["staff_id"] == world.teacher.staff_id and aid["where"]["id"] == world.group_id
    assert aid["at"].startswith(f"{SESSION_DAY}T16:40")


def test_a_pupils_day_and_a_staff_members_shift(client: TestClient, app: HandoverApp,
                                               clock: FixedClock) -> None:
    world, staff, _ = afternoon(client, app, clock)
    day = ok(client.get(f"/v1/pupils/{world.pupil(1)}/day", params={"day": SESSION_DAY},
                        headers=staff["duty"].h()))
    _in_log_order(day["entries"])
    assert [e["what"] for e in day["entries"]] == ["opened", "offered", "custody_taken", "offered",
                                                   "custody_taken", "offered", "custody_taken",
                                                   "offered", "custody_taken"]
    assert {e["subject"]["session"] for e in day["entries"]} == {"after_school"}
    shift = ok(client.get(f"/v1/staff/{world.teacher.staff_id}/shift", params={"day": SESSION_DAY},
                          headers=staff["safety"].h()))
    entries = shift["entries"]
    _in_log_order(entries)
    assert entries[0]["event"] == "Shift.SignedOn" and entries[0]["who"]["staff_id"] == world.teacher.staff_id
    taken = [e for e in entries if e["what"] == "custody_taken"
             and e["facts"]["custodian"]["staff_id"] == world.teacher.staff_id]
    given = [e for e in entries if e["what"] == "custody_taken"
             and (e["facts"]["giver"] or {}).get("staff_id") == world.teacher.staff_id]
    assert len(taken) == 5 and len(given) == 4  # four from class and one back; one to the club, three to the gate
    guard = ok(client.get(f"/v1/staff/{world.guard.staff_id}/shift", params={"day": SESSION_DAY},
                          headers=world.admin.h()))
    assert [e["what"] for e in guard["entries"]].count("released") == 1


def test_only_the_leadership_and_inspectors_read_history_and_never_another_schools(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world, staff, _ = afternoon(client, app, clock)
    incident = staff["incident"]["incident_id"]
    paths = [("/v1/roster/as-of", {"at": f"{SESSION_DAY}T16:30"}),
             (f"/v1/pupils/{world.pupil(0)}/custody", {"at": f"{SESSION_DAY}T16:30"}),
             (f"/v1/incidents/{incident}/timeline", {}),
             (f"/v1/pupils/{world.pupil(0)}/day", {"day": SESSION_DAY}),
             (f"/v1/staff/{world.teacher.staff_id}/shift", {"day": SESSION_DAY})]
    other = app.init_school("别的小学", "Asia/Shanghai", "钱校长")
    stranger = Staff(other["admin_id"], other["token"])
    for path, params in paths:
        assert client.get(path, params=params, headers=world.inspector.h()).status_code == 200, path
        for refused in (world.teacher, world.guard):
            r = client.get(path, params=params, headers=refused.h())
            assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
        if path != "/v1/roster/as-of":
            assert client.get(path, params=params, headers=stranger.h()).status_code == 404, path
    r = client.get("/v1/roster/as-of", params={"at": "yesterday teatime"}, headers=world.admin.h())
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    for params in ({"at": "2100-01-01T10:00"}, {"at": f"{SESSION_DAY}T16:30", "session": "bogus"}):
        r = client.get("/v1/roster/as-of", params=params, headers=world.admin.h())
        assert r.status_code == 422, (params, r.text)  # not yet come; no such session
    r = client.get("/v1/roster/as-of", params={"at": f"{SESSION_DAY}T16:30", "group_id": "x"},
                   headers=world.admin.h())
    assert r.status_code == 404
    r = client.get(f"/v1/pupils/{world.pupil(0)}/custody", params={"at": "2100-01-01T10:00"},
                   headers=world.admin.h())
    assert r.status_code == 422
    for day in ("1900-01-01", "2100-01-01"):
        r = client.get(f"/v1/pupils/{world.pupil(0)}/day", params={"day": day}, headers=world.admin.h())
        assert r.status_code == 422, day
    theirs = ok(client.get("/v1/roster/as-of", params={"at": f"{SESSION_DAY}T16:30"}, headers=stranger.h()))
    assert theirs["pupils"] == []
    # Every read is in the access log, with what it showed.
    app.access.flush()
    log = ok(client.get("/v1/access-log", params={"min_position": head(app)}, headers=world.admin.h()))
    kinds = {e["what"] for e in log["reads"] if e["staff_id"] == world.inspector.staff_id}
    assert {"roster_as_of", "custody_at", "incident_timeline", "pupil_day", "staff_shift"} <= kinds


def test_a_later_day_is_rebuilt_on_top_of_what_stood_before_it_began(client: TestClient, app: HandoverApp,
                                                                       clock: FixedClock) -> None:
    world, _, shown = afternoon(client, app, clock)
    assert ok(as_of(world, "16:20"))["pupils"] == shown["16:20"]["pupils"]
    clock.set(datetime(2026, 11, 24, 16, 0, tzinfo=SHANGHAI))  # the next service day
    handed_to_teacher(world)
    next_day = roster_now(world, app)
    clock.set(datetime(2026, 11, 24, 16, 30, tzinfo=SHANGHAI))
    hand(world, world.teacher, world.club_teacher, world.club_id, [world.pupil(3)])
    later = roster_now(world, app)
    for _ in range(2):  # the second time from what was kept of the log before the day began
        assert ok(as_of(world, "16:00", at="2026-11-24T16:00"))["pupils"] == next_day["pupils"]
        assert ok(as_of(world, "16:30", at="2026-11-24T16:30"))["pupils"] == later["pupils"]
        assert ok(as_of(world, "15:00", at="2026-11-24T15:00"))["counts"]["by_status"] == {"not_handed_over": 4}
    assert ok(as_of(world, "17:20"))["pupils"] == shown["17:20"]["pupils"]  # the day before, still


def test_an_attempted_collection_timeline_shows_the_adults_number_only_to_whom_may_see_it(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, pupils=2)
    duty = add_staff(client, world.admin, "周值班", ["duty_leader"])
    handed_to_teacher(world)
    walked_to_gate(world, [0, 1])
    r = world.post(world.guard, "/v1/releases", {
        "pupil_ids": [world.pupil(0)], "gate_id": world.gate_id, "identity_check": "id_card",
        "adult": {"name": "陌生人甲", "phone": "13912345678", "id_tail": "8765"}})
    assert r.status_code == 422, r.text
    [incident] = ok(client.get("/v1/incidents", params={"min_position": r.headers["X-Log-Position"]},
                               headers=world.admin.h()))["incidents"]
    path = f"/v1/incidents/{incident['incident_id']}/timeline"
    for who, shown in ((world.admin, "13912345678"), (duty, None)):
        entries = ok(client.get(path, headers=who.h()))["entries"]
        refused = next(e for e in entries if e["what"] == "release_refused")
        assert refused["facts"]["adult"]["name"] == "陌生人甲" and refused["facts"]["adult"]["phone"] == shown
        linked = [e["facts"]["refusal"]["adult"] for e in entries if "refusal" in e["facts"]
                  and e["facts"]["refusal"]]
        assert linked and all(a["name"] == "陌生人甲" and a["phone"] == shown for a in linked)
        assert "8765" not in str(entries) or shown is not None


def test_a_shift_holds_what_was_recorded_for_its_day_before_the_day_began(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, pupils=2)
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": True,
                                                   "reason": "病假", "day": "2026-11-24"})
    assert r.status_code == 200, r.text  # reported the day before (请假)
    clock.set(datetime(2026, 11, 24, 16, 0, tzinfo=SHANGHAI))
    r = world.post(world.homeroom, "/v1/sign-ins", {"pupil_ids": [world.pupil(1)], "place_id": world.group_id})
    assert r.status_code == 200, r.text
    ok(client.get("/v1/roster", params={"min_position": head(app), "day": "2026-11-24"}, headers=world.admin.h()))
    shift = ok(client.get(f"/v1/staff/{world.homeroom.staff_id}/shift", params={"day": "2026-11-24"},
                          headers=world.admin.h()))
    _in_log_order(shift["entries"])
    assert [(e["what"], e["subject"]["pupil_id"]) for e in shift["entries"]] == [
        ("absent", world.pupil(0)), ("signed_in", world.pupil(1))]
    assert shift["entries"][0]["at"].startswith("2026-11-23T08:00")


@every_store
def test_every_minute_asked_forwards_and_backwards_is_what_a_fresh_replay_gives(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    """A time slider's minutes, one after another and back again: each answer, continued from the
    minutes asked before it, is the answer replayed afresh from the start of the log."""
    world, _, _ = afternoon(client, app, clock)
    minutes = [f"{h:02d}:{m:02d}" for h in (15, 16, 17) for m in range(0, 60, 5)
               if "15:45" <= f"{h:02d}:{m:02d}" <= "17:30"]
    asked = {hhmm: ok(as_of(world, hhmm)) for hhmm in [*minutes, *reversed(minutes)]}
    history.MINUTES.clear()
    history.CHECKPOINTS.clear()
    for hhmm in minutes:
        fresh = ok(as_of(world, hhmm))
        history.MINUTES.clear()
        history.CHECKPOINTS.clear()
        assert asked[hhmm]["pupils"] == fresh["pupils"], hhmm
        assert asked[hhmm]["counts"] == fresh["counts"] and asked[hhmm]["position"] == fresh["position"], hhmm


def test_a_minute_not_yet_settled_is_not_kept_for_the_next(client: TestClient, app: HandoverApp,
                                                          clock: FixedClock) -> None:
    world, _, _ = afternoon(client, app, clock)
    history.MINUTES.clear()
    at(clock, "17:20")  # the minute asked is now: a write in flight could still land before it
    ok(as_of(world, "17:20"))
    assert not [k for k in history.MINUTES.keys(app) if k[0] == world.school_id]
    at(clock, "17:30")
    ok(as_of(world, "17:20"))
    assert [k for k in history.MINUTES.keys(app) if k[0] == world.school_id]


def test_a_scripted_afternoon_with_an_injury_a_late_collection_and_a_restricted_adult_is_told_in_order(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    """The afternoon above, then at the gate: a restricted adult tries to collect 学生1 (refused: an
    incident opens), 学生1's family comes late (unpicked, then collected); clearing is refused until the
    last pupil is gone and the refusal has been seen; the timelines hold every related event in order,
    the as-of answers are the rosters shown then, and the duty log prints in Chinese."""
    import io

    from pypdf import PdfReader

    from service.workers.watcher import Watcher

    world, staff, shown = afternoon(client, app, clock)
    duty, p1 = staff["duty"], world.pupil(1)

    def watch() -> None:
        Watcher(app, client.app.state.views).run_once()  # type: ignore[attr-defined]

    at(clock, "17:22")
    ok(world.post(world.admin, f"/v1/pupils/{p1}/restrictions",
                  {"name": "王大力", "relation": "生父", "reason": "法院禁止令"}), 201)
    at(clock, "17:25")
    refused = world.post(world.guard, "/v1/releases", {
        "pupil_ids": [p1], "gate_id": world.gate_id, "identity_check": "id_card", "adult": {"name": "王大力"}})
    assert refused.status_code == 422 and refused.json()["pupils"][0]["reason"] == "restricted"
    shown["17:25"] = roster_now(world, app)
    at(clock, "17:28")
    ok(world.post(world.guard, "/v1/releases", {
        "pupil_ids": [world.pupil(2)], "gate_id": world.gate_id, "identity_check": "id_card",
        "collector_id": world.guardian(2)["guardian_id"]}))
    at(clock, "17:35")
    walked_to_gate(world, [3])
    ok(world.post(world.guard, "/v1/releases", {
        "pupil_ids": [world.pupil(3)], "gate_id": world.gate_id, "identity_check": "id_card",
        "collector_id": world.guardian(3)["guardian_id"]}))
    at(clock, "17:45")  # 三年级 is dismissed at 17:20, ten minutes' grace: 学生1's family is late
    watch()
    shown["17:45"] = roster_now(world, app)
    alerts = ok(client.get("/v1/alerts", params={"min_position": head(app)}, headers=world.admin.h()))["alerts"]
    unpicked = [a for a in alerts if a["kind"] == "unpicked" and a["subject"]["pupil_id"] == p1]
    assert len(unpicked) == 1 and unpicked[0]["status"] == "open"
    [refusal_alert] = [a for a in alerts if a["kind"] == "release_refused" and a["subject"]["pupil_id"] == p1]

    # Clearing: refused while 学生1 is held, naming them; the unpicked and the refusal alerts block.
    at(clock, "17:50")
    r = world.post(duty, "/v1/duty/clearing", {"note": "各楼层已查"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    blockers = {(b["kind"], b["id"]) for b in r.json()["errors"]}
    assert ("pupil", p1) in blockers and ("alert", unpicked[0]["alert_id"]) in blockers
    assert ("alert", refusal_alert["alert_id"]) in blockers
    at(clock, "17:55")  # the family comes
    ok(world.post(world.guard, "/v1/releases", {
        "pupil_ids": [p1], "gate_id": world.gate_id, "identity_check": "id_card",
        "collector_id": world.guardian(1)["guardian_id"]}))
    at(clock, "17:56")
    watch()
    r = world.post(duty, "/v1/duty/clearing", {"note": "各楼层已查"})
    assert r.status_code == 409 and {b["id"] for b in r.json()["errors"]} == {refusal_alert["alert_id"]}
    ok(world.post(duty, f"/v1/alerts/{refusal_alert['alert_id']}/acknowledge", {"note": "已报派出所"}))
    at(clock, "17:58")
    cleared = world.post(duty, "/v1/duty/clearing", {"note": "各楼层已查，学校已清"})
    assert cleared.status_code in (200, 201), cleared.text

    # The as-of answers are the rosters shown then.
    for hhmm in ("17:25", "17:45"):
        assert ok(as_of(world, hhmm))["pupils"] == shown[hhmm]["pupils"], hhmm
    # The attempted collection's timeline: its steps with 学生1's whole chain of custody, in order.
    incidents = ok(client.get("/v1/incidents", params={"min_position": head(app)}, headers=world.admin.h()))
    [attempt] = [i for i in incidents["incidents"] if i["kind"] == "attempted_collection"]
    entries = ok(client.get(f"/v1/incidents/{attempt['incident_id']}/timeline", headers=world.admin.h()))["entries"]
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)
    chain = ok(client.get(f"/v1/pupils/{p1}/day", params={"day": SESSION_DAY}, headers=world.admin.h()))
    custody = [e["position"] for e in chain["entries"] if e.get("subject", {}).get("pupil_id") == p1
               and e["what"] in ("signed_in", "offered", "custody_taken", "release_refused", "released")]
    assert custody and set(custody) <= set(positions)
    assert [e["what"] for e in entries if e["position"] in custody][-1] == "released"
    # The duty log names the afternoon and prints in Chinese.
    pdf = client.get("/v1/duty/log/export", params={"format": "pdf", "day": SESSION_DAY}, headers=duty.h())
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).replace("\n", "")
    for words in ("值班记录", "周值班", "受伤", "清校"):
        assert words in text, words
