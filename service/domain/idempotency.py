"""Remembered commands: a retried request with the same key returns the first answer."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://handover.invalid/idempotency")


class CommandRecord(Aggregate):
    """The first answer to one client command id. Stored with the change, in one transaction."""

    class Answered(Aggregate.Created):
        """Version 2 stores the command's result as versioned JSON; version 1 stored HTTP."""

        class_version = 2
        school_id: str
        staff_id: str
        key: str
        fingerprint: str
        result: dict[str, Any]
        position_hint: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # As answered then: the HTTP status and body, replayed as they were.
            state["result"] = {"kind": "recorded", "v": 1, "status": state.pop("status"),
                               "body": state.pop("body")}

    @staticmethod
    def create_id(school_id: str, staff_id: str, key: str) -> UUID:
        return uuid5(IDEMPOTENCY_NAMESPACE, f"{school_id}/{staff_id}/{key}")

    @event(Answered)
    def __init__(
        self, school_id: str, staff_id: str, key: str, fingerprint: str, result: dict[str, Any],
        position_hint: str | None,
    ) -> None:
        self.key = key
        self.fingerprint = fingerprint
        self.result = result
