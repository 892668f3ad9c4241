"""Alert notifications out: signed webhook deliveries, retried on the clock, durable across restarts."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from eventsourcing.utils import get_topic
from fastapi.testclient import TestClient

from service.adapters.channels import LogChannel, WebhookChannel
from service.adapters.outbound import AddressPolicy, UnresolvableError
from service.application import HandoverApp
from service.domain.notification import MAX_ATTEMPTS, Notification, retry_delay
from service.projections.outbox import error_category
from service.projections.views import Views
from service.settings import Settings
from service.use_cases.clock import FixedClock
from service.workers.deliverer import Deliverer
from service.workers.watcher import Watcher
from tests.builders import World, a_school, handed_to_teacher
from tests.conftest import SHANGHAI
from tests.stores import every_store

SECRET = "whsec-0123456789abcdef"
DEADLINE = datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI)  # grade 3: 17:20 plus 10 minutes


class Receiver:
    """A school's notification gateway: a real HTTP server on 127.0.0.1 that checks signatures."""

    def __init__(self, secret: str = SECRET, port: int = 0) -> None:
        self.secret = secret
        self.port = port
        self.deliveries: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/handover"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append({"headers": dict(self.headers), "body": json.loads(body),
                                            "signed": receiver.verify(self.headers, body)})
                self.send_response(204)
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def verify(self, headers: Any, body: bytes) -> bool:
        """The receiver's side of the contract, written from the documentation alone."""
        parts = dict(p.split("=", 1) for p in headers["X-Handover-Signature"].split(","))
        signed = parts["t"].encode() + b"." + body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return parts["t"] == headers["X-Handover-Timestamp"] and hmac.compare_digest(parts["v1"], expected)

    def ids(self) -> list[str]:
        return [d["headers"]["X-Handover-Delivery"] for d in self.deliveries]


class Flaky:
    """An httpx transport for a receiver that is down until told otherwise."""

    def __init__(self) -> None:
        self.up = False
        self.received: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        self.received.append(request.headers["X-Handover-Delivery"])
        return httpx.Response(200)


PUBLIC_DNS = {"gateway.school.invalid": ["93.184.216.34"], "x.invalid": ["93.184.216.34"]}


def fake_dns(answers: dict[str, list[str]]) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise UnresolvableError(host)
        return list(answers[host])
    return resolve


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver runs on 127.0.0.1: the operator allows it, as for an on-premises gateway."""
    return settings.model_copy(update={"webhook_allow_hosts": "127.0.0.1"})


@pytest.fixture(autouse=True)
def no_internet_dns(app: HandoverApp) -> None:
    app.outbound.resolve = fake_dns(PUBLIC_DNS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def quiet(client: TestClient) -> Views:
    """Stop the app's own deliverer: the test drives delivery on its fixed clock."""
    client.app.state.deliverer.stop()  # type: ignore[attr-defined]
    views: Views = client.app.state.views  # type: ignore[attr-defined]
    return views


def with_webhook(client: TestClient, app: HandoverApp, url: str) -> World:
    world = a_school(client, app, 1)
    r = client.put("/v1/school/webhook", json={"url": url, "secret": SECRET},
                   headers=world.admin.h(**{"Idempotency-Key": "hook-1"}))
    assert r.status_code == 200, r.text
    return world


def refused_release(world: World) -> None:
    """A stranger turned away at the gate: an alert raised at once."""
    handed_to_teacher(world)
    r = world.post(world.teacher, "/v1/releases", {"pupil_ids": [world.pupil(0)], "gate_id": world.gate_id,
                   "identity_check": "id_card", "adult": {"name": "陌生人"}})
    assert r.status_code == 422, r.text


def notifications(world: World, **params: Any) -> list[dict[str, Any]]:
    head = world.client.app.state.handover.recorder.max_notification_id()  # type: ignore[attr-defined]
    r = world.client.get("/v1/notifications", params={"min_position": head, **params},
                         headers=world.admin.h())
    assert r.status_code == 200, r.text
    return list(r.json()["notifications"])


def flaky_deliverer(app: HandoverApp, views: Views, transport: Flaky) -> Deliverer:
    channel = WebhookChannel(app, httpx.Client(transport=httpx.MockTransport(transport)))
    return Deliverer(app, views, [LogChannel(), channel])


def test_each_raised_and_escalated_alert_reaches_the_schools_webhook_once_signed(
        client: TestClient, app: HandoverApp, clock: FixedClock, receiver: Receiver,
        caplog: pytest.LogCaptureFixture) -> None:
    views = quiet(client)
    world = with_webhook(client, app, receiver.url)
    handed_to_teacher(world)
    clock.set(DEADLINE)
    Watcher(app, views).run_once()  # raised, and escalated to its first step at once
    deliverer = Deliverer(app, views)
    with caplog.at_level(logging.INFO, logger="handover.notifications"):
        assert deliverer.run_once()["delivered"] == 4  # two alert events, two channels each
        assert deliverer.run_once()["delivered"] == 0
    raised, escalated = (d["body"] for d in receiver.deliveries)
    assert all(d["signed"] for d in receiver.deliveries)
    assert (raised["event"], escalated["event"]) == ("alert.raised", "alert.escalated")
    assert raised["alert"]["kind"] == "unpicked" and raised["alert"]["subject"]["name"] == "学生0"
    assert (escalated["alert"]["level"], escalated["alert"]["step"]) == (1, "guardian_contacted")
    assert escalated["alert"]["notify"] == ["guardian", "custodian"]
    assert escalated["school"] == {"school_id": world.school_id, "name": "实验小学"}
    sent = [n for n in notifications(world) if n["channel"] == "webhook"]
    assert sorted(receiver.ids()) == sorted(n["notification_id"] for n in sent)
    assert all(n["status"] == "delivered" and n["attempts"][0]["status"] == 204 for n in sent)
    logged = [r.getMessage() for r in caplog.records if r.name == "handover.notifications"]
    assert len(logged) == 2 and all("unpicked" in line for line in logged)


@every_store
def test_the_running_service_sends_a_new_alert_by_itself(
        client: TestClient, app: HandoverApp, receiver: Receiver) -> None:
    world = with_webhook(client, app, receiver.url)
    refused_release(world)
    assert receiver.arrived.wait(timeout=30)  # the deliverer started with the app, woken by the save
    [delivery] = receiver.deliveries
    assert delivery["signed"] and delivery["body"]["alert"]["kind"] == "release_refused"


def test_a_receiver_that_is_down_is_retried_on_the_clocks_back_off_until_it_comes_back(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    views = quiet(client)
    world = with_webhook(client, app, "https://gateway.school.invalid/hook")
    refused_release(world)
    gateway = Flaky()
    deliverer = flaky_deliverer(app, views, gateway)
    start = clock.now()
    assert deliverer.run_once()["retrying"] == 1
    for wait in (9, 0):  # not due yet: nothing is attempted
        clock.advance(seconds=wait)
        assert deliverer.run_once()["retrying"] == 0
    clock.set(start + timedelta(seconds=10))
    assert deliverer.run_once()["retrying"] == 1
    clock.set(start + timedelta(seconds=30))
    assert deliverer.run_once()["retrying"] == 1
    gateway.up = True
    clock.set(start + timedelta(seconds=69))
    assert deliverer.run_once()["delivered"] == 0
    clock.set(start + timedelta(seconds=70))
    assert deliverer.run_once()["delivered"] == 1
    [hook] = [n for n in notifications(world) if n["channel"] == "webhook"]
    assert hook["status"] == "delivered" and gateway.received == [hook["notification_id"]]
    assert [(a["ok"], a["error"] is not None) for a in hook["attempts"]] == [(False, True)] * 3 + [(True, False)]
    assert [a["at"] for a in hook["attempts"]] == [
        (start + timedelta(seconds=s)).isoformat() for s in (0, 10, 30, 70)]


def test_a_delivery_that_keeps_failing_is_given_up_after_the_last_attempt(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    views = quiet(client)
    world = with_webhook(client, app, "https://gateway.school.invalid/hook")
    refused_release(world)
    deliverer = flaky_deliverer(app, views, Flaky())
    for attempt in range(1, MAX_ATTEMPTS + 1):
        tally = deliverer.run_once()
        assert tally["failed" if attempt == MAX_ATTEMPTS else "retrying"] == 1
        clock.advance(seconds=retry_delay(attempt).total_seconds())
    assert deliverer.run_once() == {"queued": 0, "delivered": 0, "retrying": 0, "failed": 0}
    [hook] = [n for n in notifications(world) if n["channel"] == "webhook"]
    assert hook["status"] == "failed" and len(hook["attempts"]) == MAX_ATTEMPTS
    assert hook["abandoned"]["reason"] == f"gave up after {MAX_ATTEMPTS} attempts"


class Crash(BaseException):
    """The process dies: nothing after this point runs."""


class CrashingChannel:
    name = "webhook"

    def send(self, notification: Notification, now: datetime) -> Any:
        raise Crash()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_what_was_pending_when_the_process_died_is_delivered_after_a_restart(
        settings: Settings, app: HandoverApp, client: TestClient, clock: FixedClock,
        receiver: Receiver) -> None:
    views = quiet(client)
    world = with_webhook(client, app, receiver.url)
    refused_release(world)
    with pytest.raises(Crash):  # queued, then the process dies mid-delivery
        Deliverer(app, views, [LogChannel(), CrashingChannel()]).run_once()
    [pending] = [n for n in notifications(world) if n["channel"] == "webhook"]
    assert pending["status"] == "pending" and pending["attempts"] == []

    restarted = HandoverApp(env=settings.eventsourcing_env(), clock=clock)  # a new process
    try:
        views_again = Views(restarted, settings)
        views_again.catch_up()
        tally = Deliverer(restarted, views_again).run_once()
    finally:
        restarted.close()
    assert tally["delivered"] == 1 and tally["queued"] == 0
    assert receiver.ids() == [pending["notification_id"]] and receiver.deliveries[0]["signed"]


@every_store
def test_two_deliverers_create_each_notification_once(
        settings: Settings, store: str, app: HandoverApp, client: TestClient, clock: FixedClock,
        receiver: Receiver) -> None:
    views = quiet(client)
    world = with_webhook(client, app, receiver.url)
    refused_release(world)
    other = app if store == "memory" else HandoverApp(env=settings.eventsourcing_env(), clock=clock)
    try:
        pair = [Deliverer(app, views), Deliverer(other, views if other is app else Views(other, settings))]
        start = threading.Barrier(2)
        tallies: list[dict[str, int]] = []

        def run(d: Deliverer) -> None:
            start.wait()
            tallies.append(d.run_once())

        threads = [threading.Thread(target=run, args=(d,)) for d in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for d in pair:
            d.run_once()
    finally:
        if other is not app:
            other.close()
    queued = app.recorder.select_notifications(start=1, limit=10_000, topics=[get_topic(Notification.Queued)])
    assert len(queued) == len({n.originator_id for n in queued}) == 2  # log and webhook
    assert sum(t["queued"] for t in tallies) == 2
    [hook] = [n for n in notifications(world) if n["channel"] == "webhook"]
    # At least once: a repeat is possible when both attempt at the same instant, with one id.
    assert set(receiver.ids()) == {hook["notification_id"]} and hook["status"] == "delivered"


def test_the_webhook_secret_is_never_shown_and_only_an_admin_sets_it(
        client: TestClient, app: HandoverApp) -> None:
    quiet(client)
    world = with_webhook(client, app, "https://gateway.school.invalid/hook")
    shown = client.get("/v1/school/webhook", headers=world.admin.h())
    replay = client.put("/v1/school/webhook", json={"url": "https://gateway.school.invalid/hook",
                        "secret": SECRET}, headers=world.admin.h(**{"Idempotency-Key": "hook-1"}))
    assert shown.status_code == replay.status_code == 200
    assert replay.headers.get("Idempotent-Replayed") == "true"
    for r in (shown, replay):
        assert SECRET not in r.text and r.json()["secret_set"] is True
        assert r.json()["url"] == "https://gateway.school.invalid/hook"
    r = client.put("/v1/school/webhook", json={"url": "https://x.invalid", "secret": SECRET},
                   headers=world.teacher.h())
    assert r.status_code == 403
    r = client.put("/v1/school/webhook", json={"url": "ftp://x.invalid", "secret": SECRET},
                   headers=world.admin.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"
    r = client.put("/v1/school/webhook", json={"url": "https://x.invalid", "secret": "short"},
                   headers=world.admin.h())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "secret"


def test_a_removed_webhook_gets_nothing_more_and_its_pending_deliveries_are_abandoned(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    views = quiet(client)
    world = with_webhook(client, app, "https://gateway.school.invalid/hook")
    refused_release(world)
    gateway = Flaky()
    deliverer = flaky_deliverer(app, views, gateway)
    deliverer.run_once()
    r = client.delete("/v1/school/webhook", headers=world.admin.h())
    assert r.status_code == 200 and r.json()["active"] is False
    gateway.up = True
    clock.advance(minutes=1)
    deliverer.run_once()
    [hook] = [n for n in notifications(world) if n["channel"] == "webhook"]
    assert hook["status"] == "failed" and hook["abandoned"]["reason"] == "the school's webhook was removed"
    assert gateway.received == []
    r = world.post(world.teacher, "/v1/refusals", {"pupil_id": world.pupil(0),
                   "adult": {"name": "另一个陌生人"}, "reason": "不在名单"})
    assert r.status_code == 200, r.text
    assert deliverer.run_once()["queued"] == 1  # the log only
    assert {n["channel"] for n in notifications(world) if n["status"] == "delivered"} == {"log"}


def test_a_notification_queued_hours_after_its_alert_is_recorded_as_stale_and_not_sent(
        client: TestClient, app: HandoverApp, clock: FixedClock) -> None:
    views = quiet(client)
    world = with_webhook(client, app, "https://gateway.school.invalid/hook")
    refused_release(world)
    gateway = Flaky()
    gateway.up = True
    clock.advance(hours=7)  # the deliverer was down all evening
    assert flaky_deliverer(app, views, gateway).run_once()["failed"] == 2
    assert gateway.received == []
    assert all(n["abandoned"]["reason"].startswith("stale") for n in notifications(world))


def test_retries_back_off_from_ten_seconds_to_at_most_ten_minutes() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 9)] == [10, 20, 40, 80, 160, 320, 600, 600]


@pytest.mark.parametrize("store", ["memory"])
@pytest.mark.parametrize("url", [
    "http://localhost:8080/hook", "http://169.254.169.254/latest/meta-data", "http://2130706433/",
    "http://0x7f000001/", "http://[::ffff:127.0.0.1]/", "http://10.0.0.5/sms", "http://[::1]/",
    "https://intranet.invalid/hook",  # a name the DNS answers with a private address
])
def test_a_webhook_into_the_services_own_network_is_refused_when_set(
        client: TestClient, app: HandoverApp, url: str) -> None:
    quiet(client)
    app.outbound.resolve = fake_dns({**PUBLIC_DNS, "localhost": ["127.0.0.1", "::1"],
                                     "intranet.invalid": ["93.184.216.34", "192.168.1.20"]})
    world = a_school(client, app, 1)
    r = client.put("/v1/school/webhook", json={"url": url, "secret": SECRET}, headers=world.admin.h())
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "url"
    assert client.get("/v1/school/webhook", headers=world.admin.h()).json()["active"] is False


@pytest.mark.parametrize("store", ["memory"])
def test_a_name_that_later_resolves_into_the_network_is_refused_at_delivery_and_nothing_is_sent(
        client: TestClient, app: HandoverApp, receiver: Receiver) -> None:
    views = quiet(client)
    answers = {"hooks.invalid": ["93.184.216.34"]}
    app.outbound.resolve = fake_dns(answers)
    world = with_webhook(client, app, f"http://hooks.invalid:{receiver.port}/hooks/handover")
    refused_release(world)
    answers["hooks.invalid"] = ["127.0.0.1"]  # DNS rebinding: now it points at the service's host
    assert Deliverer(app, views).run_once()["failed"] == 1
    assert receiver.deliveries == []
    [hook] = [n for n in notifications(world) if n["channel"] == "webhook"]
    assert hook["status"] == "failed" and hook["attempts"][0]["error"] == "refused_address"
    assert hook["abandoned"]["reason"] == "refused_address"


@pytest.mark.parametrize("store", ["memory"])
def test_a_private_gateway_the_operator_allows_by_name_gets_the_delivery_at_its_checked_address(
        client: TestClient, app: HandoverApp, receiver: Receiver) -> None:
    views = quiet(client)
    app.outbound = AddressPolicy.from_setting("sms-gateway.school.lan")
    app.outbound.resolve = fake_dns({"sms-gateway.school.lan": ["127.0.0.1"]})
    world = with_webhook(client, app, f"http://sms-gateway.school.lan:{receiver.port}/hooks/handover")
    refused_release(world)
    assert Deliverer(app, views).run_once()["delivered"] == 2
    [delivery] = receiver.deliveries
    assert delivery["signed"] and delivery["headers"]["Host"] == f"sms-gateway.school.lan:{receiver.port}"


@pytest.mark.parametrize("store", ["memory"])
def test_only_admins_see_why_a_delivery_failed_and_only_as_a_category(
        client: TestClient, app: HandoverApp) -> None:
    views = quiet(client)
    world = with_webhook(client, app, "https://gateway.school.invalid/hook")
    refused_release(world)
    flaky_deliverer(app, views, Flaky()).run_once()  # the transport says "connection refused"
    head = app.recorder.max_notification_id()
    seen = {who: client.get("/v1/notifications", params={"min_position": head},
                            headers=getattr(world, who).h()) for who in ("admin", "teacher")}
    for r in seen.values():
        assert r.status_code == 200 and "connection refused" not in r.text
        assert "ConnectError" not in r.text and "93.184" not in r.text
    [admin] = [n for n in seen["admin"].json()["notifications"] if n["channel"] == "webhook"]
    [teacher] = [n for n in seen["teacher"].json()["notifications"] if n["channel"] == "webhook"]
    assert admin["attempts"][0]["error"] == "connection_failed"
    assert teacher["status"] == "pending" and teacher["attempts"][0]["error"] is None


def test_errors_recorded_as_transport_text_are_shown_as_their_category() -> None:
    assert [error_category(e) for e in (
        "ConnectError: [Errno 111] Connection refused", "RemoteProtocolError: Server disconnected",
        "ConnectTimeout: timed out", "HTTP 503", "ValueError: boom", None, "timeout",
    )] == ["connection_failed", "connection_failed", "timeout", "http_status", "delivery_error",
           None, "timeout"]


@pytest.mark.parametrize("store", ["memory"])
def test_an_https_delivery_goes_to_the_checked_address_with_the_certificate_checked_for_the_name(
        client: TestClient, app: HandoverApp) -> None:
    views = quiet(client)
    world = with_webhook(client, app, "https://gateway.school.invalid/hook")
    refused_release(world)
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    channel = WebhookChannel(app, httpx.Client(transport=httpx.MockTransport(gateway)))
    assert Deliverer(app, views, [LogChannel(), channel]).run_once()["delivered"] == 2
    [request] = seen
    assert str(request.url) == "https://93.184.216.34/hook"
    assert request.headers["Host"] == "gateway.school.invalid"
    assert request.extensions["sni_hostname"] == "gateway.school.invalid"
