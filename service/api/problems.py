"""RFC 9457 problem details: the one shape every error takes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.domain.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    NotFoundError,
    RuleError,
    TooLargeError,
    UnsupportedMediaError,
)
from service.use_cases.results import Refused, Rejected

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"
STORE_RETRY_AFTER = 5  # seconds: about the pool's wait plus a reconnect
PROBLEM_BASE = "https://handover.invalid/problems/"


class Problem(BaseModel):
    """A problem detail; extra members carry the current state or the fields at fault."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str | None = None


REFUSAL_REASONS = {
    "restricted": "此人被列入禁止接送名单 / on the do-not-release list",
    "not_authorised": "此人不在授权接送名单 / not authorised to collect",
    "id_mismatch": "身份证尾号不符 / ID number does not match",
    "no_statement": "无有效自行回家说明 / no going-home-alone statement on file",
}
REJECTIONS = {  # code: (status, title, extra members)
    "too-large": (413, "Roster too large", {}),
    "roster-rows": (422, "Roster rows rejected", {"imported": False}),
    "not-clear": (409, "The school cannot be cleared yet", {}),  # errors: what blocks it
}


def refusal_problem(refused: Refused) -> dict[str, Any]:
    """A refused departure as problem+json: who came, and each pupil's reason in words."""
    pupils = [{**p, "reason_text": REFUSAL_REASONS.get(p["reason"], p["reason"])}
              for p in refused.pupils]
    pupils = [{k: p[k] for k in ("pupil_id", "name", "reason", "reason_text", "refusal_event")}
              for p in pupils]
    return {
        "type": PROBLEM_BASE + "release-refused",
        "title": "Release refused and recorded",
        "status": 422,
        "detail": "; ".join(f"{p['name']}: {p['reason_text']}" for p in pupils),
        "adult": refused.adult,
        "pupils": pupils,
    }


def rejection_problem(rejected: Rejected) -> tuple[int, dict[str, Any]]:
    status, title, extra = REJECTIONS[rejected.code]
    return status, {"type": PROBLEM_BASE + rejected.code, "title": title, "status": status,
                    "detail": rejected.detail, **extra, "errors": rejected.errors}


def problem_response(status: int, code: str, title: str, detail: str | None, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _problem_content(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_content("No bearer token, or one that is not valid"),
    403: _problem_content("Your role may not do this"),
    404: _problem_content("Not found within your school"),
    409: _problem_content("Conflict with the current state (included)"),
    413: _problem_content("The request body is larger than this route takes (64 KB for a JSON "
                          "command), refused before it is read"),
    422: _problem_content("Bad input, or refused by a rule (a safety refusal is recorded)"),
    503: _problem_content("The store cannot be reached right now, or a read asked for min_position "
                          "and the view did not reach it in time: retry after Retry-After seconds"),
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 404, 422, 503)}

# Each role-checking dependency, with a check of the caller from the request alone: a request whose
# body or form cannot be read is refused before its dependencies run, so that refusal first answers
# who is calling (401, 403), as every other request does.
CALLER_CHECKS: dict[Callable[..., Any], Callable[[Request], None]] = {}


def _caller_refused(request: Request) -> JSONResponse | None:
    """The 401 or 403 the route's own role check gives this request, if any."""
    route = request.scope.get("route")
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        check = CALLER_CHECKS.get(dependant.call) if dependant.call is not None else None
        if check is not None:
            try:
                check(request)
            except StarletteHTTPException as refused:
                return http_error_handler(request, refused)
            return None
        pending.extend(reversed(dependant.dependencies))
    return None


def _field(e: Any) -> str:
    if e.get("type") == "json_invalid":
        return "body"  # its loc holds the character offset of the parse error
    return ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"


def _message(e: Any) -> str:
    if e.get("type") == "json_invalid":
        offset = next((p for p in e.get("loc", ())[1:] if isinstance(p, int)), None)
        why = (e.get("ctx") or {}).get("error", "")
        at = f" at character {offset + 1}" if offset is not None else ""
        return f"The body is not valid JSON ({why}{at})." if why else f"The body is not valid JSON{at}."
    return str(e.get("msg", "invalid"))


_STATUS = {NotFoundError: 404, ConflictError: 409, UnsupportedMediaError: 415, TooLargeError: 413,
           RuleError: 422, ForbiddenError: 403}


def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 422)
    extra: dict[str, Any] = {}
    if isinstance(exc, ConflictError) and exc.state is not None:
        extra["current_state"] = exc.state
    if isinstance(exc, RuleError) and exc.field:
        extra["errors"] = [{"field": exc.field, "message": exc.detail}]
    extra.update(exc.members())
    return problem_response(status, exc.code, exc.title, exc.detail, **extra)


def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    refused = _caller_refused(request)
    if refused is not None:
        return refused
    errors: list[dict[str, str]] = []
    for e in exc.errors():
        error = {"field": _field(e), "message": _message(e)}
        if error not in errors:  # a union (text or none) reports its one fault once per member
            errors.append(error)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(422, "invalid-input", "Invalid input", detail, errors=errors)


def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # A body that is not JSON at all is bad input like any other: 422, as every route declares
        # (once the caller is known to be allowed to send it).
        refused = _caller_refused(request)
        if refused is not None:
            return refused
        return problem_response(422, "invalid-input", "Invalid input", str(exc.detail),
                                errors=[{"field": "body", "message": str(exc.detail)}])
    codes = {401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}
    response = problem_response(
        exc.status_code, codes.get(exc.status_code, "http-error"), str(exc.detail), str(exc.detail)
    )
    if exc.status_code == 405:
        # Starlette names only the first route on the path; the answer names every method it has.
        response.headers["Allow"] = ", ".join(allowed_methods(request)) or (exc.headers or {}).get(
            "Allow", "")
    return response


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this request's path."""
    def routes(found: list[Any]) -> Iterator[Any]:
        for route in found:
            if hasattr(route, "original_router"):  # an included router
                yield from routes(route.original_router.routes)
            else:
                yield route
    methods: set[str] = set()
    for route in routes(request.app.router.routes):
        if getattr(route, "methods", None) and route.path_regex.match(request.url.path):
            methods |= set(route.methods)
    return sorted(methods)


def view_timeout_handler(request: Request, exc: Exception) -> JSONResponse:
    response = problem_response(
        503, "view-behind", "The view has not caught up yet",
        f"{exc} Try again shortly, or read without min_position.")
    response.headers["Retry-After"] = "1"
    return response


def store_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database is away (or locked): the same request may be sent again with its
    Idempotency-Key once it is back, and is never recorded twice."""
    log.warning("%s %s: store unavailable: %r", request.method, request.url.path, exc)
    response = problem_response(
        503, "store-unavailable", "The store cannot be reached right now",
        "Send the same request again, with the same Idempotency-Key, after Retry-After seconds: "
        "a change is never recorded twice.")
    response.headers["Retry-After"] = str(STORE_RETRY_AFTER)
    return response
