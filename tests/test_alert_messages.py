"""An alert records a message code and its parameters; its text is rendered when read, in zh-CN or en."""

from __future__ import annotations

import gzip
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.application import HandoverApp
from service.domain.alert import Alert
from service.domain.errors import RuleError
from service.domain.messages import CATALOGUE, alert_detail, message, negotiate, render
from service.settings import Settings
from service.use_cases.clock import FixedClock
from service.workers.watcher import Watcher
from tests.builders import World, a_school, handed_to_teacher
from tests.conftest import SHANGHAI

FIXTURES = Path(__file__).parent / "fixtures"
DEADLINE = datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI)  # grade 3: 17:20 plus 10 minutes' grace


@pytest.fixture
def store() -> str:
    return "memory"  # the rendering does not depend on the store


def _alerts(world: World, language: str | None = None, **params: Any) -> list[dict[str, Any]]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    headers = {**world.admin.h(), **({"Accept-Language": language} if language else {})}
    r = world.client.get("/v1/alerts", params={"min_position": head, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["alerts"])


# -- the domain: what the Raised event records ------------------------------------------------
def test_a_raised_alert_records_a_code_and_parameters_and_no_rendered_text() -> None:
    alert = Alert.raise_for("s1", "unpicked", "unpicked/p1/2026-11-23/after_school", {"pupil_id": "p1"},
                            DEADLINE.isoformat(), message("alert.unpicked", name="王小明", deadline="17:30"))
    [raised] = alert.collect_events()
    assert isinstance(raised, Alert.Raised)
    assert raised.code == "alert.unpicked"
    assert raised.params == {"name": "王小明", "deadline": "17:30"}
    assert raised.detail is None


def test_an_alert_with_a_code_the_catalogue_lacks_is_refused() -> None:
    with pytest.raises(RuleError):
        Alert.raise_for("s1", "unpicked", "c", {}, DEADLINE.isoformat(), message("alert.no_such_text"))


# -- the catalogue ------------------------------------------------------------------------------
def test_every_message_has_a_chinese_and_an_english_text() -> None:
    assert all(set(texts) == {"zh-CN", "en"} for texts in CATALOGUE.values())


def test_a_message_renders_in_each_language_with_its_reason_in_the_same_language() -> None:
    params = {"name": "王小明", "adult": "陌生人", "reason_code": "refusal.not_authorised"}
    assert render("alert.release_refused", params, "zh-CN") == "王小明：拒绝放行 陌生人（此人不在授权接送名单）"
    assert render("alert.release_refused", params, "en") == \
        "王小明: release to 陌生人 refused (not authorised to collect)"


def test_the_language_follows_accept_language_and_defaults_to_chinese() -> None:
    assert negotiate(None) == "zh-CN"
    assert negotiate("") == "zh-CN"
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert negotiate("fr-FR, en;q=0.5, zh-CN;q=0.8") == "zh-CN"
    assert negotiate("de") == "zh-CN"
    assert negotiate("en;q=oops, zh") == "zh-CN"


# -- through the API ------------------------------------------------------------------------------
def test_an_unpicked_alert_reads_in_chinese_by_default_and_in_english_when_asked(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    clock.set(DEADLINE)
    Watcher(client.app.state.handover, client.app.state.views).run_once()  # type: ignore[attr-defined]
    [zh] = _alerts(world, kind="unpicked")
    [en] = _alerts(world, "en-US,en;q=0.9", kind="unpicked")
    name = zh["subject"]["name"]
    assert zh["code"] == en["code"] == "alert.unpicked"
    assert zh["detail"] == f"{name} 未按时接走（时限 17:30）"
    assert en["detail"] == f"{name} not collected by 17:30"
    one = client.get(f"/v1/alerts/{zh['alert_id']}", headers={**world.admin.h(), "Accept-Language": "en"})
    assert one.status_code == 200 and one.json()["detail"] == en["detail"]


def test_a_refused_release_alert_names_the_reason_in_the_readers_language(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "adult": {"name": "陌生人"}})
    assert r.status_code == 422
    [zh] = _alerts(world, kind="release_refused")
    [en] = _alerts(world, "en", kind="release_refused")
    assert zh["detail"].endswith("拒绝放行 陌生人（此人不在授权接送名单）")
    assert en["detail"].endswith("release to 陌生人 refused (not authorised to collect)")



def test_a_release_the_guard_refused_names_the_refusal_in_words(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/refusals", {"pupil_id": world.pupil(0), "gate_id": world.gate_id,
                   "adult": {"name": "陌生人"}, "reason": "说不出学生的班级"})
    assert r.status_code == 200, r.text
    [zh] = _alerts(world, kind="release_refused")
    [en] = _alerts(world, "en", kind="release_refused")
    assert zh["detail"].endswith("拒绝放行 陌生人（经办人拒绝放行）"), zh["detail"]
    assert en["detail"].endswith("release to 陌生人 refused (refused by the staff member)"), en["detail"]

# -- the earlier release's alerts ---------------------------------------------------------------
def test_an_alert_stored_with_its_text_by_the_earlier_release_still_reads_that_text(tmp_path: Path) -> None:
    with gzip.open(FIXTURES / "legacy-main-562a828.sqlite3.gz") as packed, \
            (tmp_path / "handover.sqlite3").open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    settings = Settings(store="sqlite", data_dir=tmp_path, watch_interval=86400.0)
    app = HandoverApp(env=settings.eventsourcing_env(),
                      clock=FixedClock(datetime(2026, 12, 1, 19, 0, tzinfo=SHANGHAI)))
    try:
        raised = [app.mapper.to_domain_event(n)
                  for n in app.recorder.select_notifications(start=1, limit=10_000)
                  if n.topic == "service.domain.alert:Alert.Raised"]
        assert raised
        for event in raised:
            assert isinstance(event, Alert.Raised)
            assert event.code is None and event.params == {} and event.detail
            assert alert_detail(vars(event), "en") == event.detail
            alert: Alert = app.repository.get(event.originator_id)
            assert alert.view("en")["detail"] == alert.view()["detail"] == event.detail
    finally:
        app.close()


def test_a_missing_pupil_with_no_place_last_seen_says_so_in_either_language() -> None:
    assert render("alert.missing_pupil", {"name": "王小明", "where": "操场"}, "en") == \
        "missing pupil: 王小明 (last seen: 操场)"
    for params in ({"name": "王小明", "where": None}, {"name": "王小明", "where": ""}, {"name": "王小明"}):
        assert render("alert.missing_pupil", params, "en") == "missing pupil: 王小明 (place last seen unknown)"
        assert render("alert.missing_pupil", params, "zh-CN") == "学生走失：王小明（最后所在不明）"


def test_what_blocks_clearing_reads_with_the_punctuation_of_its_language() -> None:
    from service.use_cases.duty import clearing_blockers
    rows: list[dict[str, Any]] = [
        {"pupil_id": "p1", "name": "何锦杰", "status": "in_custody", "place": {"label": "东门"}},
        {"pupil_id": "p2", "name": "李想", "status": "not_handed_over", "place": None}]
    incident = {"incident_id": "i1", "kind": "injury", "pupil_ids": ["p1", "p2"], "where": "操场",
                "day": "2026-11-23", "session": "after_school", "status": "open",
                "guardians_pending": ["p1"], "severity": "minor"}
    found = clearing_blockers(rows, [], [incident], "2026-11-23", "after_school", "en")
    assert [b["detail"] for b in found] == [
        "in custody: 东门", "not handed over", "injury (何锦杰, 李想): the guardian not reached yet"]
    found = clearing_blockers(rows, [], [incident], "2026-11-23", "after_school", "zh-CN")
    assert [b["detail"] for b in found] == ["在校看护中：东门", "未交接", "受伤（何锦杰、李想）：尚未联系上家长"]
