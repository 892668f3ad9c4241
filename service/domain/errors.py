"""Domain errors: each maps to one HTTP status at the API edge."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A command the domain refuses; nothing is recorded unless the use case says so."""

    title = "Refused"
    code = "refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def members(self) -> dict[str, Any]:
        """Members of the problem body beyond the detail: what a screen shows without parsing it."""
        return {}


class NotFoundError(DomainError):
    """The thing does not exist, or is outside the caller's school (never say which)."""

    title = "Not found"
    code = "not-found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"No {kind} {ident} here.", kind=kind)


class ConflictError(DomainError):
    """The state has moved on (already released, concurrent change); carries the current state."""

    title = "Conflict"
    code = "conflict"

    def __init__(self, detail: str, *, state: Any = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.state = state


class RuleError(DomainError):
    """A rule of the school or the policy forbids this."""

    title = "Refused by a rule"
    code = "rule"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.field = field


class ForbiddenError(DomainError):
    """The caller's role may not do this."""

    title = "Forbidden"
    code = "forbidden"


class IdempotencyKeyReusedError(RuleError):
    code = "idempotency-key-reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different request.",
            field="Idempotency-Key",
        )


class UnsupportedMediaError(RuleError):
    """A file of a kind this route does not take (415)."""

    title = "Unsupported media type"
    code = "unsupported-media"


class TooLargeError(RuleError):
    """A file over its limit (413)."""

    title = "Too large"
    code = "too-large"
