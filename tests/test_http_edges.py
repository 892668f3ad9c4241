"""The HTTP edge: who is calling is checked first, 405 says what is allowed, and every status a
route answers is declared in the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.application import HandoverApp
from tests.builders import a_school
from tests.conftest import settings_for
from tests.test_roster_import_api import CSV_ROWS, upload

memory_only = pytest.mark.parametrize("store", ["memory"], indirect=True)
DOCUMENT = create_app(settings_for("memory", Path("/nonexistent"), None)).openapi()


def _refused_field(r: Any) -> str:
    assert r.status_code == 422, r.text
    return str(r.json()["errors"][0]["field"])


@memory_only
def test_without_a_valid_token_the_answer_is_401_whatever_the_headers_and_body_hold(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    bad_time = {"X-Device-Time": "yesterday", "Idempotency-Key": "k" * 500}
    r = client.post("/v1/absences", json={"pupil_id": 5}, headers=bad_time)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = client.post("/v1/absences", json={"pupil_id": 5},
                    headers={"Authorization": "Bearer not-a-token", **bad_time})
    assert r.status_code == 401
    r = client.get("/v1/roster", params={"day": "not a day"}, headers={"X-Device-Time": "yesterday"})
    assert r.status_code == 401
    # Authenticated but not allowed: 403 before the headers are looked at.
    r = client.post("/v1/school/gates", json={"name": 7}, headers=world.guard.h(**bad_time))
    assert r.status_code == 403
    # With a token and the role, the bad header is what is wrong.
    r = client.post("/v1/school/gates", json={"name": "西门"},
                    headers=world.admin.h(**{"X-Device-Time": "yesterday"}))
    assert _refused_field(r) == "X-Device-Time"



@memory_only
@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/v1/school/fee-rule", "GET, PUT"),
    ("POST", "/v1/school/webhook", "DELETE, GET, PUT"),
    ("GET", "/v1/absences", "POST"),
    ("PATCH", "/health", "GET"),
])
def test_a_method_the_path_does_not_have_is_405_naming_every_method_it_has(
        client: TestClient, method: str, path: str, allow: str) -> None:
    r = client.request(method, path)
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["allow"] == allow


def test_x_device_time_is_declared_as_a_date_time() -> None:
    headers = [p for p in DOCUMENT["paths"]["/v1/absences"]["post"]["parameters"]
               if p["name"].lower() == "x-device-time"]
    assert headers and {"type": "string", "format": "date-time", "maxLength": 64} in (
        headers[0]["schema"]["anyOf"])


@memory_only
def test_a_dry_run_import_answers_a_status_the_document_declares(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    declared = DOCUMENT["paths"]["/v1/imports/roster"]["post"]["responses"]
    r: Any = upload(client, world.admin.h(), "\n".join(CSV_ROWS).encode(), "a.csv", dry_run="true")
    assert r.status_code == 200 and "200" in declared
    r = upload(client, world.admin.h(), "\n".join(CSV_ROWS).encode(), "a.csv")
    assert r.status_code == 201 and "201" in declared
    r = upload(client, world.admin.h(), "\n".join(CSV_ROWS).encode(), "a.csv")  # nothing new
    assert r.status_code == 200
    assert "413" in declared and "application/problem+json" in declared["413"]["content"]
