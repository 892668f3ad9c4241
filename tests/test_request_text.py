"""No input can poison the log: every text a request carries is printable, bounded text."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from service.api.app import create_app
from service.api.text import IsoDate, PlainText
from service.application import HandoverApp
from tests.builders import a_school, key
from tests.conftest import settings_for


def _texts(tp: Any, where: str, metadata: tuple[Any, ...] = (), kind: type = str,
           guard: type = PlainText) -> Iterator[tuple[str, bool]]:
    """Every place inside type ``tp`` where a ``kind`` (str, date) is accepted, and whether the
    shared type (``guard`` among its metadata) checks it."""
    if get_origin(tp) is Annotated:
        inner, *extra = get_args(tp)
        yield from _texts(inner, where, metadata + tuple(extra), kind, guard)
    elif tp is kind:
        yield where, any(isinstance(m, guard) for m in metadata)
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            yield from _texts(info.annotation, f"{tp.__name__}.{name}", tuple(info.metadata), kind,
                              guard)
    elif isinstance(tp, type) and issubclass(tp, Enum) or get_origin(tp) is Literal:
        return  # a closed set of values: nothing free-form gets through
    elif get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            yield from _texts(arg, where, metadata, kind, guard)
    else:
        for arg in get_args(tp):  # list[...], dict[..., ...], tuple[...]
            yield from _texts(arg, f"{where}[]", (), kind, guard)


def _request_texts(kind: type = str, guard: type = PlainText) -> Iterator[tuple[str, bool]]:
    api = create_app(settings_for("memory", Path("/nonexistent"), None))
    for route in _api_routes(api.routes):
        assert route.methods, route.path
        for param in _params(route.dependant):
            info = param.field_info
            for where, guarded in _texts(info.annotation, param.name, tuple(info.metadata), kind,
                                         guard):
                yield f"{min(route.methods)} {route.path}: {where}", guarded


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _api_routes(route.original_router.routes)


def _params(dependant: Dependant) -> Iterator[Any]:
    """Every parameter a route reads from the request, its dependencies' (auth, headers) included."""
    yield from (dependant.path_params + dependant.query_params + dependant.header_params
                + dependant.cookie_params + dependant.body_params)
    for sub in dependant.dependencies:
        yield from _params(sub)


def test_every_text_a_request_carries_goes_through_the_shared_text_type() -> None:
    texts = dict(_request_texts())
    assert len(texts) > 300  # the bodies, queries, paths and headers of every route were walked
    assert sorted(where for where, guarded in texts.items() if not guarded) == []


def test_every_date_a_request_carries_accepts_only_a_date() -> None:
    dates = dict(_request_texts(date, IsoDate))
    assert len(dates) > 20
    assert sorted(where for where, guarded in dates.items() if not guarded) == []


def test_the_walk_finds_a_plain_str_field_when_there_is_one() -> None:
    class Leaky(BaseModel):
        inner: list[dict[str, int]]
        note: str | None = None

    assert sorted(_texts(Leaky, "body")) == [("Leaky.inner[][]", False), ("Leaky.note", False)]


memory_only = pytest.mark.parametrize("store", ["memory"], indirect=True)


def _log_position(client: TestClient) -> int:
    return int(client.get("/health").json()["log_position"])


def _refused_field(r: Any) -> str:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return str(r.json()["errors"][0]["field"])


@memory_only
def test_a_care_note_holding_a_nul_is_refused_naming_the_field_and_nothing_is_recorded(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    before = _log_position(client)
    r = world.post(world.teacher, "/v1/care-notes", {"group_id": world.group_id, "text": "作业\u0000完成"})
    assert _refused_field(r) == "text"
    assert "U+0000" in r.json()["detail"]
    assert _log_position(client) == before


@memory_only
def test_a_refused_adults_name_pupil_name_or_gate_name_with_a_control_character_is_refused(
        client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    before = _log_position(client)
    r = world.post(world.guard, "/v1/refusals", {"pupil_id": world.pupil(0),
                   "adult": {"name": "陌生\u0000人"}, "reason": "不在名单"})
    assert _refused_field(r) == "adult.name"
    r = world.post(world.admin, "/v1/pupils", {"name": "王\u001b[31m芳", "gender": "女",
                   "class_id": world.class_id, "guardians": [{"name": "王妈妈", "phone": "13800138000"}]})
    assert _refused_field(r) == "name"
    r = world.post(world.admin, "/v1/school/gates", {"name": "西门\n"})  # a name is one line
    assert _refused_field(r) == "name"
    r = world.post(world.admin, "/v1/school/gates", {"name": "北门\u0085"})  # C1 controls too
    assert _refused_field(r) == "name"
    for bidi in ("\u202e", "\u202a", "\u2066", "\u2069"):  # text that reads otherwise than stored
        r = world.post(world.guard, "/v1/refusals", {"pupil_id": world.pupil(0),
                       "adult": {"name": f"王{bidi}五"}, "reason": "不在名单"})
        assert _refused_field(r) == "adult.name"
        r = world.post(world.teacher, "/v1/care-notes", {"group_id": world.group_id,
                                                         "text": f"作业{bidi}完成\n已检查"})
        assert _refused_field(r) == "text"
    assert _log_position(client) == before


@memory_only
def test_notes_and_reasons_keep_their_newlines_and_tabs(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    text = "作业：\n\t语文完成\n\t数学未完成"
    r = world.post(world.teacher, "/v1/care-notes", {"group_id": world.group_id, "text": text})
    assert r.status_code == 201, r.text
    assert r.json()["text"] == text


@memory_only
def test_a_lone_surrogate_is_refused_naming_the_field(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 0)
    before = _log_position(client)
    r = client.post("/v1/school/gates", content=b'{"name": "\\ud800"}',
                    headers=world.admin.h(**key(), **{"Content-Type": "application/json"}))
    assert _refused_field(r) == "name"
    assert "U+D800" in r.json()["detail"]
    assert _log_position(client) == before


@memory_only
def test_a_search_or_id_holding_a_control_character_is_refused(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = client.get("/v1/roster", params={"q": "学生\x00"}, headers=world.admin.h())
    assert _refused_field(r) == "query.q"
    r = client.get("/v1/pupils", params={"q": "\x07"}, headers=world.admin.h())
    assert _refused_field(r) == "query.q"
    r = client.get("/v1/pupils/%00", headers=world.admin.h())
    assert _refused_field(r) == "path.pupil_id"
    r = client.post("/v1/school/gates", json={"name": "南门"},
                    headers={**world.admin.h(**key()), "X-Device-Id": "pad\x85".encode("latin-1")})
    assert _refused_field(r) == "header.x-device-id"


@memory_only
def test_a_date_and_time_where_a_date_is_asked_is_refused(client: TestClient, app: HandoverApp) -> None:
    world = a_school(client, app, 1)
    r = client.get("/v1/roster", params={"day": "2026-11-23T00:00:00"}, headers=world.admin.h())
    assert _refused_field(r) == "query.day"
    r = client.get("/v1/afternoon", params={"day": "1795363200"}, headers=world.admin.h())
    assert _refused_field(r) == "query.day"
    before = _log_position(client)
    r = world.post(world.homeroom, "/v1/absences", {"pupil_id": world.pupil(0), "with_leave": True,
                   "day": "2026-11-23T00:00:00+08:00"})
    assert _refused_field(r) == "day"
    assert _log_position(client) == before
    r = client.get("/v1/roster", params={"day": "2026-11-23"}, headers=world.admin.h())
    assert r.status_code == 200, r.text

