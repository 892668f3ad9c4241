"""A request body over its route's limit is refused (413) before anything reads it, signed in or not.

A declared Content-Length over the limit is answered at once; a body without one (chunked) is
read up to the limit and answered 413 as soon as it passes it, so no route, dependency or parser
ever holds more than its limit."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from service.api.problems import problem_response

KB = 1024
DEFAULT_BODY_LIMIT = 64 * KB  # a JSON command: the largest (an incident) is a few KB


def _too_large(limit: int) -> Any:
    detail = f"The request body is larger than this route takes ({limit // KB} KB)."
    return problem_response(413, "too-large", "Request too large", detail,
                            errors=[{"field": "body", "message": detail}])


class LimitBodySize:
    """ASGI middleware: each path's body limit, the longest matching prefix in ``limits`` or
    ``default``; a ``*`` in a prefix stands for one path segment (``/v1/incidents/*/attachments``)."""

    def __init__(self, app: Any, default: int = DEFAULT_BODY_LIMIT,
                 limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits = [(re.compile("[^/]+".join(map(re.escape, prefix.split("*")))), limit)
                       for prefix, limit in sorted((limits or {}).items(), key=lambda item: -len(item[0]))]

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.limits if prefix.match(path)), self.default)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope["headers"])  # the server refuses framing headers that disagree
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await problem_response(400, "bad-request", "Bad Content-Length",
                                       "Content-Length is not a number of bytes.")(scope, receive, send)
                return
            if int(declared) > limit:
                await _too_large(limit)(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server reads no more than it declared
            return
        if b"transfer-encoding" not in headers:  # no body at all
            await self.app(scope, receive, send)
            return
        body, more, received = [], True, 0
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: no one to answer
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _too_large(limit)(scope, receive, send)
                return
            body.append(chunk)
            more = message.get("more_body", False)
        whole = {"type": "http.request", "body": b"".join(body), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[dict[str, Any]], receive: Any) -> Any:
    """The body read already, then the server's own messages (a disconnect)."""
    pending = list(messages)

    async def replayed() -> Any:
        return pending.pop(0) if pending else await receive()
    return replayed

