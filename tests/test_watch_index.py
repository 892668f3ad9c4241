"""DESIGN §3.3 The watcher's deadline index raises, escalates and closes exactly the alerts the full scan does.

Each round first runs the full scan without saving (what it would record from this state), then
the index's round for real, and compares the two event for event: by induction the index's
afternoon is the full scan's afternoon.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import IntegrityError
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from service.demo.school import open_demo
from service.domain.alert import Alert
from service.projections.deadlines import DeadlineIndex
from service.projections.live import LiveViews
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.clock import FixedClock
from service.workers.watcher import Watcher
from tests.builders import Staff, World, a_school, enrolled_pupil
from tests.conftest import SHANGHAI
from tests.scripted_afternoon import Afternoon

Event = tuple[str, str, int, str]


def _fact(event: Any) -> Event:
    facts = {k: v for k, v in vars(event).items() if k != "timestamp"}
    return (type(event).__qualname__, str(event.originator_id), event.originator_version, repr(sorted(facts.items())))


class Compared:
    """Both rounds on one application: the full scan planned, the index's round recorded."""

    def __init__(self, app: HandoverApp, views: Views) -> None:
        self.app, self.views = app, views
        self.index = DeadlineIndex(app.recorder, app.name, views.view("roster"), views.view("alerts"))
        self.rounds = 0
        self.recorded: list[Event] = []

    def _capturing(self, run: Callable[[], dict[str, int]], *, save: bool) -> tuple[dict[str, int], list[Event]]:
        seen: list[Event] = []
        real = self.app.save

        def save_(*aggregates: Any, **kwargs: Any) -> Any:
            if not all(isinstance(a, Alert) for a in aggregates):
                return real(*aggregates, **kwargs)  # the access log's flusher, from its own thread
            if save:
                recordings = real(*aggregates, **kwargs)
                seen.extend(_fact(r.domain_event) for r in recordings)
                return recordings
            facts = [_fact(e) for a in aggregates for e in a.collect_events()]
            if any((f[1], f[2]) in {(s[1], s[2]) for s in seen} for f in facts):
                raise IntegrityError("recorded already in this round")
            seen.extend(facts)
            return []

        self.app.save = save_  # type: ignore[method-assign]
        try:
            tally = run()
        finally:
            del self.app.save
        return tally, sorted(seen)

    def round(self) -> dict[str, int]:
        head = self.app.recorder.max_notification_id()
        for name in ("roster", "alerts"):
            self.views.runners[name].wait(head, timeout=30)
        live = LiveViews(self.views.view("roster"), self.views.view("alerts"))
        planned, would = self._capturing(lambda: self.app.watch(live), save=False)
        tally, did = self._capturing(lambda: self.app.watch_due(self.index), save=True)
        assert did == would, f"round {self.rounds} at {self.app.now()}"
        assert tally == planned
        self.rounds += 1
        self.recorded += did
        return tally


def _quiet(client: TestClient) -> Compared:
    state = client.app.state  # type: ignore[attr-defined]
    state.watcher.stop()  # the rounds are the test's own
    state.deliverer.stop()  # it saves too, from a thread of its own
    return Compared(state.handover, state.views)


@pytest.fixture
def demo_client(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, FixedClock, str]]:
    settings: Settings = request.getfixturevalue("settings")
    demo, _ = open_demo(settings)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    clock = FixedClock(datetime.combine(today, time(16, 40), ZoneInfo("Asia/Shanghai")))
    app = HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        with TestClient(create_app(settings, application=app, clock=clock)) as client:
            yield client, clock, str(demo.admin.token)
    finally:
        app.close()


@pytest.mark.parametrize("store", ["sqlite"])
def test_the_index_records_what_the_full_scan_does_over_the_scripted_demo_afternoon(
        store: str, demo_client: tuple[TestClient, FixedClock, str]) -> None:
    client, clock, token = demo_client
    compared = _quiet(client)

    class Watched(Afternoon):
        def post(self, who: str, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
            answer = super().post(who, path, body, expect)
            clock.advance(minutes=1)
            if sum(self.log.values()) % 3 == 0:
                compared.round()
            return answer

    compared.round()
    Watched(client, token).run_all()
    for _ in range(12):  # the evening: the last escalations come due
        clock.advance(minutes=10)
        compared.round()
    kinds = {e[0] for e in compared.recorded}
    assert {"Alert.Raised", "Alert.Escalated", "Alert.Resolved"} <= kinds
    assert compared.rounds > 60


def _random_afternoon(world: World, clock: FixedClock, compared: Compared, rng: random.Random) -> None:
    """Staff doing plausible and implausible things at random moments; a round after each."""
    admin, teacher, guard = world.admin, world.teacher, world.guard
    offers: list[str] = []


    def today() -> date:
        return clock.now().astimezone(SHANGHAI).date()

    def some(n: int) -> list[str]:
        return rng.sample([world.pupil(i) for i in range(len(world.pupils))], k=min(n, len(world.pupils)))

    def alerts(*statuses: str) -> list[str]:
        head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
        r = world.client.get("/v1/alerts", params={"min_position": head}, headers=admin.h())
        return [a["alert_id"] for a in r.json()["alerts"] if a["status"] in statuses]

    def handover(who: Staff, to: Staff, place: str, ids: list[str]) -> None:
        r = world.post(who, "/v1/handovers", {"pupil_ids": ids, "count": len(ids),
                       "to_staff_id": to.staff_id, "place_id": place})
        if r.status_code == 201:
            offers.append(r.json()["handover_id"])

    def to_group() -> None:
        handover(world.homeroom, teacher, world.group_id, some(rng.randint(1, 5)))

    def to_gate() -> None:
        handover(teacher, guard, world.gate_id, some(rng.randint(1, 3)))

    def to_club() -> None:
        handover(teacher, world.club_teacher, world.club_id, some(2))

    def confirm() -> None:
        if offers:
            world.post(rng.choice([teacher, guard, world.club_teacher]),
                       f"/v1/handovers/{rng.choice(offers)}/confirm", {"count": rng.randint(1, 3)})

    def withdraw() -> None:
        if offers:
            world.post(rng.choice([world.homeroom, teacher]), f"/v1/handovers/{rng.choice(offers)}/withdraw",
                       {"reason": "走错了"})

    def absent() -> None:
        world.post(world.homeroom, "/v1/absences", {"pupil_id": some(1)[0], "with_leave": rng.random() < 0.5})

    def release() -> None:
        i = rng.randrange(len(world.pupils))
        world.post(guard, "/v1/releases", {"pupil_ids": [world.pupil(i)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "collector_id": world.guardian(i)["guardian_id"]})

    def refuse() -> None:
        world.post(guard, "/v1/refusals", {"pupil_id": some(1)[0], "adult": {"name": "陌生人"},
                   "reason": "不在名单"})

    def correct() -> None:
        world.post(admin, "/v1/corrections", {"pupil_id": some(1)[0], "day": today().isoformat(),
                   "corrects": rng.randint(1, 4), "reason": "记录有误"})

    def acknowledge() -> None:
        if found := alerts("open"):
            world.post(teacher, f"/v1/alerts/{rng.choice(found)}/acknowledge", {"note": "在处理"})

    def resolve() -> None:
        if found := alerts("open", "acknowledged"):
            world.post(admin, f"/v1/alerts/{rng.choice(found)}/resolve", {"how": "other", "note": "已处理"})

    def withdraw_enrolment() -> None:
        world.post(admin, f"/v1/pupils/{some(1)[0]}/enrolment-withdrawal", {
            "on": (today() + timedelta(days=rng.choice([0, 1]))).isoformat(), "reason": "家长申请退出"})

    def enrol() -> None:
        n = len(world.pupils)
        world.pupils.append(enrolled_pupil(world, f"插班生{n}", "新家长", f"1390013{n:04d}"))

    def authorise() -> None:
        ends = today() + timedelta(days=rng.randint(0, 20))
        world.post(admin, f"/v1/pupils/{some(1)[0]}/authorisations", {
            "name": "外婆", "relation": "外婆", "valid_from": "2026-09-01", "valid_to": ends.isoformat()})

    acts = [to_group, to_gate, to_club, confirm, withdraw, absent, release, refuse, correct,
            acknowledge, resolve, withdraw_enrolment, enrol, authorise]
    for _ in range(70):
        rng.choice(acts)()
        if rng.random() < 0.6:
            clock.advance(minutes=rng.choice([1, 2, 5, 9, 15, 30]))
        compared.round()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_index_records_what_the_full_scan_does_over_a_random_afternoon(
        seed: int, client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    compared = _quiet(client)
    worlds = [a_school(client, app, 6), a_school(client, app, 3, name="第二小学")]
    rng = random.Random(seed)
    clock.set(datetime(2026, 11, 23, 16, 10, tzinfo=SHANGHAI))
    compared.round()
    for world in worlds:
        _random_afternoon(world, clock, compared, rng)
    clock.set(datetime(2026, 11, 24, 16, 50, tzinfo=SHANGHAI))  # the next day begins afresh
    compared.round()
    clock.advance(hours=1)
    compared.round()
    kinds = {e[0] for e in compared.recorded}
    assert {"Alert.Raised", "Alert.Escalated"} <= kinds


def test_a_round_with_nothing_changed_and_nothing_due_reads_no_row(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    compared = _quiet(client)
    world = a_school(client, app, 3)
    clock.set(datetime(2026, 11, 23, 16, 10, tzinfo=SHANGHAI))
    compared.round()  # the day's first round reads everything once
    reads: list[str] = []
    roster = compared.index.roster
    real_scan, real_many = roster.scan, roster.get_many

    def scan(prefix: str) -> dict[str, Any]:
        reads.append(prefix)
        return real_scan(prefix)

    def get_many(keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        reads.extend(keys)
        return real_many(keys)

    roster.scan, roster.get_many = scan, get_many  # type: ignore[method-assign]
    try:
        clock.advance(minutes=5)
        assert app.watch_due(compared.index) == {"raised": 0, "escalated": 0, "resolved": 0}
        assert reads == []
        r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(1), "with_leave": True})
        assert r.status_code == 200, r.text
        compared.views.runners["roster"].wait(app.recorder.max_notification_id(), timeout=10)
        compared.views.runners["alerts"].wait(app.recorder.max_notification_id(), timeout=10)
        app.watch_due(compared.index)
        assert [k for k in reads if k.startswith("day/")] == [
            f"day/{world.school_id}/2026-11-23/after_school/{world.pupil(1)}"]
    finally:
        del roster.scan, roster.get_many


def test_after_a_round_that_failed_partway_the_next_round_looks_at_everything_again(
        client: TestClient, app: HandoverApp, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    _quiet(client)
    world = a_school(client, app, 2)
    watcher = Watcher(app, client.app.state.views)  # type: ignore[attr-defined]
    clock.set(datetime(2026, 11, 23, 16, 10, tzinfo=SHANGHAI))  # past the hand-over time

    def away(*aggregates: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the store is away")

    with monkeypatch.context() as m:
        m.setattr(app, "save", away)
        watcher._round()
    assert watcher.failures == 1
    watcher._round()
    assert watcher.failures == 0 and watcher.last is not None and watcher.last["raised"] == 3
    head = app.recorder.max_notification_id()
    r = client.get("/v1/alerts", params={"min_position": head}, headers=world.admin.h())
    assert sorted(a["kind"] for a in r.json()["alerts"]) == ["not_handed_over", "not_handed_over", "zero_report"]
