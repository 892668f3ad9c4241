"""The Handover application: every use case, over one event store."""

from __future__ import annotations

from service.use_cases.afternoon import AfternoonUseCases
from service.use_cases.alerts import AlertUseCases
from service.use_cases.care import CareUseCases
from service.use_cases.devices import DeviceUseCases
from service.use_cases.duty import DutyUseCases
from service.use_cases.enrolment import EnrolmentUseCases
from service.use_cases.gate_guards import GateGuardUseCases
from service.use_cases.notifications import NotificationUseCases
from service.use_cases.pupils import PupilUseCases
from service.use_cases.setup import SetupUseCases


class HandoverApp(GateGuardUseCases, SetupUseCases, PupilUseCases, EnrolmentUseCases, AfternoonUseCases,
                  AlertUseCases, CareUseCases, NotificationUseCases, DeviceUseCases, DutyUseCases):
    """School set-up, pupils, the afternoon's chain of custody, and alerts."""

    name = "Handover"
