"""The Handover application: every use case, over one event store."""

from __future__ import annotations

from service.use_cases.afternoon import AfternoonUseCases
from service.use_cases.alerts import AlertUseCases
from service.use_cases.care import CareUseCases
from service.use_cases.devices import DeviceUseCases
from service.use_cases.duty import DutyUseCases
from service.use_cases.enrolment import EnrolmentUseCases
from service.use_cases.notifications import NotificationUseCases
from service.use_cases.pupils import PupilUseCases
from service.use_cases.setup import SetupUseCases
from service.use_cases.statements import StatementUseCases


class HandoverApp(SetupUseCases, PupilUseCases, EnrolmentUseCases, AfternoonUseCases, AlertUseCases, CareUseCases,
                  StatementUseCases, NotificationUseCases, DeviceUseCases, DutyUseCases):
    """School set-up, pupils, the afternoon's chain of custody, and alerts."""

    name = "Handover"
