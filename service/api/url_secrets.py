"""A staff token never travels in a URL: one in a query is refused, and any in a logged request
line (path or query, percent-encoded or not) is blanked."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from service.api.problems import problem_response

# Our tokens: "hov_" and URL-safe base64 (service.domain.staff.new_token).
TOKEN_SHAPE = re.compile(r"hov_[A-Za-z0-9_-]+", re.IGNORECASE)
# Named secrets in a query, whatever their case or encoding: tokens and stream tickets.
NAMED_SECRET = re.compile(r"((?:access_token|ticket)=)[^&\s\"]*", re.IGNORECASE)
REFUSED = ("A token in the URL is refused: send it in the Authorization header, or open the "
           "stream with a ticket from POST /v1/stream/tickets.")


def _decoded(text: str) -> str:
    for _ in range(3):  # %255F and the like: decode until it stops changing
        plain = unquote(text)
        if plain == text:
            break
        text = plain
    return text


def redact(text: str) -> str:
    """``text`` with every token and named secret replaced by ``[redacted]``; if a secret hides
    behind percent-encoding, the line is shown decoded, with it replaced."""
    shown = _blank(text)
    plain = _decoded(shown)
    blanked = _blank(plain)
    return blanked if blanked != plain else shown


def _blank(text: str) -> str:
    return NAMED_SECRET.sub(r"\1[redacted]", TOKEN_SHAPE.sub("[redacted]", text))


def token_in_query(query: str) -> bool:
    """Whether any query parameter (name or value, decoded) holds something of a token's shape."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if TOKEN_SHAPE.search(_decoded(name)) or TOKEN_SHAPE.search(_decoded(value)):
            return True
    return bool(TOKEN_SHAPE.search(_decoded(query)))


class RefuseTokensInQuery:
    """ASGI middleware: a request carrying a token in its query is answered 401, on every route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("query_string") and token_in_query(
                scope["query_string"].decode("latin-1")):
            await problem_response(401, "unauthenticated", REFUSED, REFUSED)(scope, receive, send)
            return
        await self.app(scope, receive, send)
