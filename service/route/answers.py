"""The router's own answers, problem+json as the districts' (service.api.problems)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from service.api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, STORE_RETRY_AFTER
from service.route.table import District


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": str(STORE_RETRY_AFTER)} if status == 503 else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"type": PROBLEM_BASE + code, "title": title, "status": status,
                         "detail": detail, **extra}, status_code=status,
                        media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def router_busy() -> JSONResponse:
    return problem(503, "router-busy", "Router busy",
                   "路由器当前繁忙，请稍后重试 / the router is busy; try again shortly")


def bad_request() -> JSONResponse:
    """Said without the value at fault: it may be a token."""
    return problem(400, "bad-request", "Bad request",
                   "请求头不符合 HTTP 规范，无法转发 / a header of the request is not allowed by HTTP; "
                   "it cannot be passed on")


def unauthenticated() -> JSONResponse:
    """As a district says it of a token it does not know (service.api.deps)."""
    return problem(401, "unauthenticated", "This token is not valid.",
                   "令牌无效 / this token is not valid in any district")


def district_down(districts: list[District]) -> JSONResponse:
    names = ", ".join(d.name for d in districts)
    return problem(503, "district-unavailable", "District unavailable",
                   f"学区 {names} 的服务暂时无法连接，请稍后重试 / the service of district {names} "
                   "does not answer; try again shortly", districts=[d.name for d in districts])
