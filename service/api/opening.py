"""Before the store first answers: every API route says so (503), and ``/health`` says why."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from service.api.problems import STORE_RETRY_AFTER, problem_response


class WhileOpening:
    """ASGI middleware: until ``scope["app"].state.opening`` has opened the application, answer
    ``/health`` with the store failing and every ``/v1/`` route with 503 store-unavailable
    (``Retry-After``); the screens' static files are served meanwhile."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        opening = getattr(scope["app"].state, "opening", None) if scope["type"] == "http" else None
        if opening is None or opening.opened:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        error = repr(opening.error) if opening.error is not None else "starting"
        if path == "/health":
            since = opening.failing_since.isoformat() if opening.failing_since else None
            response = JSONResponse({
                "status": "failing", "store": scope["app"].state.store, "log_position": None,
                "store_health": {"ok": False, "error": error}, "views": {}, "failing": ["store"],
                "starting": {"attempts": opening.attempts, "failing_since": since},
            }, status_code=503)
        elif path.startswith("/v1/"):
            response = problem_response(
                503, "store-unavailable", "The store cannot be reached right now",
                "The service is waiting for its database and keeps trying; send the same request "
                "again, with the same Idempotency-Key, after Retry-After seconds.")
        else:
            await self.app(scope, receive, send)
            return
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER)
        await response(scope, receive, send)
