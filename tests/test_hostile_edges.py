"""Edges a hostile caller probes: who is calling is answered before a broken body, tokens never
reach the log from a URL, Chinese header values are text, and webhooks stay off special ranges."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.adapters.outbound import AddressPolicy, RefusedAddressError
from service.application import HandoverApp
from tests.builders import a_school, key

memory_only = pytest.mark.parametrize("store", ["memory"], indirect=True)
JSON = {"Content-Type": "application/json"}


@memory_only
def test_a_body_that_does_not_parse_is_answered_401_without_a_token_and_403_without_the_role(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    for body in (b"{bad", b"\xff\xfe"):
        r = client.post("/v1/releases", content=body, headers=JSON)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == "application/problem+json"
        r = client.post("/v1/releases", content=body, headers={**JSON, "Authorization": "Bearer nope"})
        assert r.status_code == 401, r.text
        r = client.put("/v1/school/profile", content=body, headers=world.guard.h(**JSON))
        assert r.status_code == 403, r.text
    broken = {"Content-Type": "multipart/form-data; boundary=xyz"}
    r = client.post("/v1/imports/roster", content=b"--xyz\r\nbroken", headers=broken)
    assert r.status_code == 401, r.text
    r = client.post("/v1/imports/roster", content=b"--xyz\r\nbroken", headers=world.guard.h(**broken))
    assert r.status_code == 403, r.text


@memory_only
def test_json_that_does_not_parse_is_refused_naming_the_body_for_an_allowed_caller(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    r = client.put("/v1/school/profile", content=b"{bad", headers=world.admin.h(**JSON, **key()))
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [e["field"] for e in errors] == ["body"]
    assert "not valid JSON" in errors[0]["message"]


@pytest.mark.parametrize("address", [
    "192.0.0.8", "192.0.0.170", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1",
    "192.88.99.1", "[2001:db8::1]", "[100::1]", "[2001:10::1]", "[64:ff9b::c000:8]",
])
def test_a_webhook_to_a_special_purpose_address_is_refused(address: str) -> None:
    with pytest.raises(RefusedAddressError):
        AddressPolicy().target(f"https://{address}/hook")


def test_a_webhook_to_a_public_address_is_allowed() -> None:
    assert AddressPolicy().target("https://93.184.216.34/hook").address == "93.184.216.34"


@memory_only
def test_only_an_admin_sees_staff_phone_numbers(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    added = client.post("/v1/staff", json={"name": "李门卫", "roles": ["guard"], "phone": "13800000001"},
                        headers=world.admin.h(**key()))
    assert added.status_code == 201, added.text
    for path in ("/v1/staff", "/v1/school"):
        r = client.get(path, headers=world.admin.h())
        staff = r.json() if path == "/v1/staff" else r.json()["staff"]
        assert "13800000001" in [m["phone"] for m in staff]
        for who in (world.guard, world.teacher, world.inspector):
            r = client.get(path, headers=who.h())
            assert r.status_code == 200, r.text
            staff = r.json() if path == "/v1/staff" else r.json()["staff"]
            assert "李门卫" in [m["name"] for m in staff]
            assert all(m["phone"] is None for m in staff) and all(m["roles"] for m in staff)


TOKEN = "hov_" + "Ab9_-x" * 7


@pytest.mark.parametrize("target", [
    f"/v1/roster?token={TOKEN}", f"/v1/roster?Access_Token={TOKEN}",
    f"/v1/roster?access%5Ftoken={TOKEN}", f"/v1/pupils?api_key={TOKEN}",
    f"/v1/pupils?q=%68ov%5F{TOKEN[4:]}", f"/v1/stream/{TOKEN}", f"/v1/stream/{TOKEN.upper()}?x=1",
])
def test_the_access_log_never_shows_a_token_from_a_url(target: str) -> None:
    import logging

    from service.cli import RedactSecrets

    line = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                             ("1.2.3.4:5", "GET", target, "1.1", 401), None)
    assert RedactSecrets().filter(line)
    shown = line.getMessage()
    assert TOKEN[4:] not in shown and TOKEN.upper()[4:] not in shown and "[redacted]" in shown
    assert "/v1/" in shown


@memory_only
@pytest.mark.parametrize("query", [
    {"token": TOKEN}, {"Access_Token": TOKEN}, {"api_key": TOKEN}, {"q": "hov_" + TOKEN[4:]},
])
def test_a_token_in_any_query_parameter_is_refused_even_with_a_valid_header(
        client: TestClient, app: HandoverApp, query: dict[str, str]) -> None:
    world = a_school(client, app, 0)
    assert client.get("/v1/pupils", headers=world.admin.h()).status_code == 200
    for path in ("/v1/pupils", "/v1/staff", "/health"):
        r = client.get(path, params=query, headers=world.admin.h())
        assert r.status_code == 401, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"


@memory_only
def test_chinese_header_values_are_accepted_as_text(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    headers = [(b"authorization", f"Bearer {world.admin.token}".encode()),
               (b"idempotency-key", "笔记-123".encode()), (b"x-device-id", "东门平板".encode())]
    r = client.post("/v1/school/gates", json={"name": "东北小门"}, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "东北小门"


def test_a_header_value_that_is_not_utf8_is_refused_as_such_not_as_a_control_character() -> None:
    from pydantic import TypeAdapter, ValidationError

    from service.api.text import HeaderLine
    check = TypeAdapter(HeaderLine)
    assert check.validate_python("东门平板".encode().decode("latin-1")) == "东门平板"
    with pytest.raises(ValidationError, match="is not valid UTF-8"):
        check.validate_python(b"\xe4\xb8".decode("latin-1"))


def _asgi_post(asgi: Any, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """A POST straight into the ASGI app whose body may never be read: receive fails if called."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": headers, "client": ("10.0.0.9", 5000),
             "server": ("testserver", 80)}
    asyncio.run(asgi(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@memory_only
def test_a_body_declared_over_the_limit_is_refused_413_before_it_is_read_even_without_a_token(
        client: TestClient, app: HandoverApp) -> None:
    for path, declared in (("/v1/devices/pair", 100 * 2**20), ("/v1/releases", 64 * 1024 + 1),
                           ("/v1/imports/roster", 7 * 2**20)):
        status, body = _asgi_post(client.app, path, [(b"content-type", b"application/json"),
                                                     (b"content-length", str(declared).encode())])
        assert status == 413, (path, body)
        assert json.loads(body)["type"].endswith("/too-large")
    r = client.post("/v1/devices/pair", content=b'{"code": "' + b"A" * 70_000 + b'"}', headers=JSON)
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": "body", "message": r.json()["detail"]}]


@memory_only
def test_a_chunked_body_is_counted_and_refused_413_once_it_passes_the_limit(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)

    def chunks(n: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"code": "'
        for _ in range(n):
            yield b"A" * 1024
        yield b'"}'

    r = client.post("/v1/devices/pair", content=chunks(100), headers=JSON)
    assert r.status_code == 413, r.text
    assert r.json()["type"].endswith("/too-large")
    r = client.post("/v1/school/gates", content=chunks(100), headers=world.admin.h(**JSON, **key()))
    assert r.status_code == 413, r.text
    small = client.post("/v1/school/gates", content=iter([b'{"name": ', b'"\xe5\x8d\x97\xe9\x97\xa8"}']),
                        headers=world.admin.h(**JSON, **key()))
    assert small.status_code == 201 and small.json()["name"] == "南门", small.text  # chunked, whole


@memory_only
def test_a_bulk_enrolment_step_for_a_whole_school_fits_its_own_larger_limit(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    ids = [f"pupil-{i:05d}-{'x' * 20}" for i in range(3000)]
    body = json.dumps({"pupil_ids": ids}).encode()
    assert len(body) > 64 * 1024
    r = client.post("/v1/enrolment/class_reviewed", content=body, headers=world.admin.h(**JSON, **key()))
    assert r.status_code != 413, r.text
