"""The OpenAPI contract: every operation, fuzzed by Schemathesis, in-process on the memory store.

For each operation of the app's own OpenAPI document, Schemathesis generates requests (valid and
invalid) and sends them, as the school's admin, to a school built with ``tests.builders.a_school``
(whose afternoon is under way: a confirmed handover, an offered one, an authorisation, a restriction,
a statement, a refused release). Some of the time, ids in the path, the query and the JSON body are
replaced with real ones from that school, so the rules behind a found pupil, handover or staff
member are reached as well as the 404s. An event stream is read as a poll (``once=true``), since
in-process an open stream never ends. Every response must:

* not be a server error (an unhandled exception fails the test with its traceback),
* use a status code the operation declares,
* use a content type the operation declares for that status,
* conform to the schema declared for that status and content type;

and, once an operation's examples are done, every read model (projection) must have applied what
they wrote without stopping. Each writing operation gets a fresh school; the reading ones share one.

A second test sends unreadable bodies (JSON that is not UTF-8, a malformed form, multipart without
a boundary) to every operation, where random generation meets them only now and then.

Bounded and repeatable: ``MAX_EXAMPLES`` per operation (``HANDOVER_CONTRACT_EXAMPLES`` raises it for a
deeper run), derandomized, no example database.
"""

from __future__ import annotations

import json
import os
import random
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.app import create_app
from service.application import HandoverApp
from service.settings import Settings
from service.use_cases.clock import FixedClock
from tests.builders import SESSION_DAY, World, a_school, handed_to_teacher
from tests.conftest import MORNING

Case = schemathesis.Case[Any]
MAX_EXAMPLES = int(os.environ.get("HANDOVER_CONTRACT_EXAMPLES", "10"))
SEED_SHARE = 0.5  # the share of generated requests whose ids are swapped for real ones
QUIET_WATCHER = 86400.0  # no background watcher rounds during the run
BASE_URL = "http://testserver"
READ_ONLY = {"GET", "HEAD"}  # these operations share one school; every other gets its own
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def contract_settings() -> Settings:
    return Settings(store="memory", watch_interval=QUIET_WATCHER)


# The document does not depend on any state: load it once, from the app itself.
DOCUMENT = create_app(contract_settings()).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def _operation(path: str, method: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = DOCUMENT["paths"].get(path, {}).get(method.lower())
    return found


def _stream_bound(path: str, method: str) -> dict[str, str]:
    """The query that reads an event stream as a poll: in-process, an open stream never ends."""
    operation = _operation(path, method)
    if operation is None:  # a method the path does not have (the 405 probes)
        return {}
    if not any("text/event-stream" in r.get("content", {})
               for r in operation.get("responses", {}).values()):
        return {}
    names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    assert "once" in names, (
        f"{method} {path} streams events but has no `once` query parameter: "
        "this test cannot end the stream; teach _stream_bound how")
    return {"once": "true"}


@dataclass
class RealIds:
    """Ids that exist in the school under test, by the name the API gives them."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    # Ids that only exist under one pupil: seeding one also seeds its pupil.
    owner: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    client: TestClient
    token: str
    real: RealIds


def _created(r: Any, what: str) -> dict[str, Any]:
    assert r.status_code in (200, 201), f"{what}: {r.status_code} {r.text}"
    return dict(r.json())


def _populate(world: World) -> RealIds:
    """Put the afternoon under way and collect the ids that now exist."""
    c, admin = world.client, world.admin
    pupils = [world.pupil(i) for i in range(len(world.pupils))]
    confirmed = handed_to_teacher(world)
    offered = _created(world.post(world.teacher, "/v1/handovers", {
        "pupil_ids": [pupils[3]], "count": 1, "to_staff_id": world.guard.staff_id,
        "place_id": world.gate_id}), "offer to the gate")["handover_id"]
    owned = pupils[1]
    authorisation = _created(world.post(admin, f"/v1/pupils/{owned}/authorisations", {
        "name": "王阿姨", "relation": "邻居", "phone": "13900139000", "id_tail": "123X",
        "valid_from": "2026-09-01", "valid_to": "2027-01-20"}), "authorise")["authorisations"][-1]
    restriction = _created(world.post(admin, f"/v1/pupils/{owned}/restrictions", {
        "name": "赵某", "reason": "法院裁定", "document": "(2026)京0101民初1号"}),
        "restrict")["restrictions"][-1]
    statement = _created(world.post(admin, f"/v1/pupils/{owned}/statements", {
        "valid_from": "2026-09-01", "weekdays": [1, 2, 3, 4, 5],
        "given_by_guardian_id": world.guardian(1)["guardian_id"]}), "statement")["statements"][-1]
    refused = world.post(world.teacher, "/v1/refusals", {
        "pupil_id": pupils[2], "adult": {"name": "陌生人"}, "reason": "不在名单"})
    assert refused.status_code == 200, refused.text
    alerts = c.get("/v1/alerts", headers=admin.h(),
                   params={"min_position": refused.headers.get("X-Log-Position", "0")})
    alert_ids = [a["alert_id"] for a in alerts.json().get("alerts", [])] if alerts.status_code == 200 else []
    staff = [world.homeroom, world.teacher, world.club_teacher, world.guard, world.inspector]
    guardians = [world.guardian(i)["guardian_id"] for i in range(len(world.pupils))]
    ids: dict[str, list[str]] = {
        "pupil_id": pupils,
        "class_id": [world.class_id],
        "group_id": [world.group_id, world.club_id],
        "gate_id": [world.gate_id],
        "place_id": [world.group_id, world.club_id, world.gate_id, "gatehouse"],
        # Never the admin's own id: taking their role or token would end the run's authority.
        "staff_id": [s.staff_id for s in staff],
        "handover_id": [confirmed, offered],
        "guardian_id": guardians,
        "authorisation_id": [authorisation["authorisation_id"]],
        "restriction_id": [restriction["restriction_id"]],
        "statement_id": [statement["statement_id"]],
        "alert_id": alert_ids,
        "day": [SESSION_DAY],
    }
    for alias, name in (("to_staff_id", "staff_id"), ("teacher_id", "staff_id"),
                        ("homeroom_teacher_id", "staff_id"), ("approved_by_staff_id", "staff_id"),
                        ("collector_id", "guardian_id"), ("given_by_guardian_id", "guardian_id"),
                        ("pupil_ids", "pupil_id"), ("received_pupil_ids", "pupil_id"),
                        ("class_ids", "class_id")):
        ids[alias] = ids[name]
    owner = {"authorisation_id": owned, "restriction_id": owned, "statement_id": owned}
    return RealIds({k: v for k, v in ids.items() if v}, owner)


@contextmanager
def _serving() -> Iterator[Target]:
    """A fresh school, its afternoon under way, served in-process on the memory store."""
    clock = FixedClock(MORNING)
    app = HandoverApp(env=contract_settings().eventsourcing_env(), clock=clock)
    try:
        with TestClient(create_app(contract_settings(), application=app, clock=clock),
                        base_url=BASE_URL, follow_redirects=False) as client:
            world = a_school(client, app)
            yield Target(client, world.admin.token, _populate(world))
            _read_models_survived(client)
    finally:
        app.close()


@pytest.fixture
def target() -> Iterator[Target]:
    """A fresh school for each writing operation's examples."""
    with _serving() as served:
        yield served


@pytest.fixture(scope="module")
def shared_target() -> Iterator[Target]:
    """One school for the operations that only read, and for the probes (ids that exist nowhere)."""
    with _serving() as served:
        yield served


def _read_models_survived(client: TestClient) -> None:
    """Whatever was written, every projection has applied it without stopping."""
    deadline = time.monotonic() + 10.0
    while True:
        r = client.get("/health")
        assert r.status_code == 200, r.text
        views = r.json()["views"]
        broken = {name: h["error"] for name, h in views.items() if h["error"]}
        assert not broken, f"a read model stopped on what this operation wrote: {broken}"
        if all(h["lag"] == 0 for h in views.values()) or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def _chooser(case: Case) -> random.Random:
    """Choices derived from the generated case itself, so a run (and a shrink) is repeatable."""
    seen = json.dumps([case.method, case.path, case.path_parameters, case.query,
                       None if isinstance(case.body, NotSet) else case.body],
                      sort_keys=True, default=repr, ensure_ascii=False)
    return random.Random(zlib.crc32(seen.encode("utf-8", "surrogatepass")))


def _seed(case: Case, real: RealIds, rng: random.Random) -> None:
    """Swap generated ids for real ones (path, query, top-level JSON fields) and fix the headers."""

    def one(name: str) -> str:
        return rng.choice(real.ids[name])

    # A well-formed device time and a fresh command id, so the request reaches the rules.
    for name in list(case.headers or {}):
        assert case.headers is not None
        if name.lower() == "x-device-time":
            case.headers[name] = MORNING.isoformat()
        elif name.lower() == "idempotency-key":
            case.headers[name] = f"contract-{rng.getrandbits(64):016x}"
    path = case.path_parameters or {}
    for name in list(path):
        if name in real.ids:
            path[name] = one(name)
    for name in list(path):
        if name in real.owner and "pupil_id" in path:
            path["pupil_id"] = real.owner[name]  # the pupil the authorisation etc. belongs to
    for name in list(case.query or {}):
        if name in real.ids:
            assert case.query is not None
            case.query[name] = one(name)
    if isinstance(case.body, dict):
        for name, value in list(case.body.items()):
            if name not in real.ids:
                continue
            if isinstance(value, list):
                choices = real.ids[name]
                case.body[name] = rng.sample(choices, rng.randint(1, len(choices)))
            else:
                case.body[name] = one(name)


def _send(case: Case, target: Target) -> Any:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL,
                                      headers={"Authorization": f"Bearer {target.token}"})
    prepared = requests.Request(**kwargs).prepare()
    # Bytes on the wire, as a server would read them (header values are latin-1 there).
    headers = [(k.encode("latin-1"), v.encode("latin-1") if isinstance(v, str) else v)
               for k, v in prepared.headers.items()]
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    assert prepared.method is not None and prepared.url is not None
    try:
        return target.client.request(prepared.method, prepared.url, headers=headers, content=body)
    except Exception as exc:  # an unhandled exception: the server would have answered 500
        raise AssertionError(
            f"{case.method} {case.path}: the server raised {type(exc).__name__} (a 500)\n"
            f"Reproduce with:\n    "
            f"{case.as_curl_command(headers=dict(prepared.headers), base_url=BASE_URL)}"
        ) from exc


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_every_operation_honours_its_contract(case: Case, request: pytest.FixtureRequest) -> None:
    reads = case.operation.method.upper() in READ_ONLY
    target: Target = request.getfixturevalue("shared_target" if reads else "target")
    rng = _chooser(case)
    if rng.random() < SEED_SHARE:
        _seed(case, target.real, rng)
    if bound := _stream_bound(case.path, case.method):
        case.query = {**(case.query or {}), **bound}
    response = _send(case, target)
    case.validate_response(response, checks=CHECKS)


# -- explicit probes ------------------------------------------------------------------------------
# Unreadable bodies, sent to every operation that could meet them: random generation finds these
# only now and then, and one finding hides the others behind it.

NON_UTF8_JSON = b'{"name": "\xe4"}'


def _probes() -> list[Any]:
    probes = []
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            label = f"{method.upper()} {path}"
            body_types = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body_types:
                probes.append(pytest.param(path, method, "application/json", NON_UTF8_JSON,
                                           id=f"{label} | JSON that is not UTF-8"))
            if "multipart/form-data" in body_types:
                probes.append(pytest.param(path, method, "multipart/form-data; boundary=xx",
                                           b"not a form", id=f"{label} | malformed form"))
            # Any client may say multipart; a command id makes the service fingerprint the form.
            probes.append(pytest.param(path, method, "multipart/form-data", b"",
                                       id=f"{label} | multipart without a boundary"))
    return probes


@pytest.mark.parametrize(("path", "method", "content_type", "body"), _probes())
def test_an_unreadable_body_gets_a_documented_answer(
    shared_target: Target, path: str, method: str, content_type: str, body: bytes,
) -> None:
    operation = schema[path][method.upper()]
    # Ids that exist nowhere: no probe may change the school the others use.
    case = operation.Case(path_parameters={p.name: "probe-missing" for p in operation.path_parameters},
                          query=_stream_bound(path, method) or None)
    url = case.formatted_path
    headers = {"Authorization": f"Bearer {shared_target.token}", "Content-Type": content_type,
               "Idempotency-Key": f"probe-{zlib.crc32(url.encode())}-{method}"}
    try:
        response = shared_target.client.request(method.upper(), url, params=case.query,
                                               headers=headers, content=body)
    except Exception as exc:  # an unhandled exception: the server would have answered 500
        raise AssertionError(f"{method.upper()} {url}: the server raised {exc!r} (a 500)") from exc
    case.validate_response(response, checks=CHECKS)
