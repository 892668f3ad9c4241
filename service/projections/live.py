"""The live views as a round of alerts reads them: the roster and the alerts."""

from __future__ import annotations

from datetime import date

from service.projections.docstore import Doc, DocView
from service.projections.roster import expected_on, read_roster


class LiveViews:
    """The roster and alerts views behind the application's ``LiveState``."""

    def __init__(self, roster: DocView, alerts: DocView) -> None:
        self.roster = roster
        self.alerts_view = alerts

    def school_ids(self) -> list[str]:
        return [key.split("/", 1)[1] for key in self.roster.scan("school/")]

    def session_roster(self, school_id: str, day: date, session: str) -> list[Doc]:
        found = read_roster(self.roster, school_id, day, session)
        return list((found or {}).get("pupils", []))

    def expected(self, school_id: str, day: date) -> list[tuple[Doc, str]]:
        return [(doc, session) for doc in self.roster.scan(f"pupil/{school_id}/").values()
                for session in doc["enrolment"].get("sessions", ())
                if expected_on(doc["enrolment"], day, session)]

    def alerts(self, school_id: str) -> list[Doc]:
        return list(self.alerts_view.scan(f"alert/{school_id}/").values())
