"""The composed Handover application, by the path the API's callers and the tests import it from."""

from __future__ import annotations

from service.use_cases.application import HandoverApp

__all__ = ["HandoverApp"]
