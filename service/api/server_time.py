"""Every answer says the service's own time (``X-Server-Time``), so a tablet whose clock is wrong,
or a demo running on its own clock, still shows who is due and overdue by the school's clock."""

from __future__ import annotations

from typing import Any

HEADER = b"x-server-time"


class ServerTime:
    """ASGI middleware: adds ``X-Server-Time`` (ISO 8601, the application clock's now) to answers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_time(message: Any) -> None:
            if message["type"] == "http.response.start":
                handover = getattr(scope["app"].state, "handover", None)
                if handover is not None:
                    headers = list(message.get("headers", []))
                    headers.append((HEADER, handover.now().isoformat().encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_time)
