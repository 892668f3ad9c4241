"""The Handover application: every use case, over one event store."""

from __future__ import annotations

from service.use_cases.afternoon import AfternoonUseCases
from service.use_cases.pupils import PupilUseCases
from service.use_cases.setup import SetupUseCases


class HandoverApp(SetupUseCases, PupilUseCases, AfternoonUseCases):
    """School set-up, pupils and the afternoon's chain of custody."""

    name = "Handover"
