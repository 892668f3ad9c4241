"""The schedule as it travels over HTTP: the same shape the School stores."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.api.text import IsoDay, Line

HHMM = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["17:30"])
MMDD = Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$", examples=["10-01"])
Key = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BandModel(Strict):
    key: Line = Key
    name: Line = Field(min_length=1, max_length=50)
    grades: list[int] = Field(min_length=1, max_length=9)


class SeasonModel(Strict):
    name: Line = Field(min_length=1, max_length=50)
    starts: Line = MMDD
    ends: Line = MMDD
    start: Line | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    dismissals: dict[Line, Line] = Field(default={}, max_length=20)


class SessionModel(Strict):
    key: Line = Key
    name: Line = Field(min_length=1, max_length=50)
    start: Line = HHMM
    dismissals: dict[Line, Line] = Field(max_length=20)
    weekdays: list[int] = Field(max_length=7)
    seasons: list[SeasonModel] = Field(default=[], max_length=12)


class ScheduleModel(Strict):
    """Grade bands, sessions (noon care, after-school, evening study), seasons and holidays."""

    bands: list[BandModel] = Field(min_length=1, max_length=12)
    sessions: list[SessionModel] = Field(min_length=1, max_length=8)
    no_service_dates: list[IsoDay] = Field(default=[], max_length=400)
    grace_minutes: int = Field(default=10, ge=0, le=180)
