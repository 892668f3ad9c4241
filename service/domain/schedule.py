"""A school's after-school timetable: grade bands, sessions, seasons and the deadlines they set."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_SLUG = re.compile(r"[a-z_][a-z0-9_]*")  # [a-z_]+, plus digits as the HTTP model allows
_MMDD = re.compile(r"(\d{2})-(\d{2})")
_MAX_GRACE = 180


# Why a pupil may have no deadline in a session (Schedule.deadline_gap), as alert reasons.
NO_SUCH_SESSION = "no_such_session"
NO_CLASS = "no_class"
GRADE_IN_NO_BAND = "grade_in_no_band"
BAND_NOT_IN_SESSION = "band_not_in_session"
GAP_TEXT = {
    NO_SUCH_SESSION: "作息表中没有该时段 / the schedule has no such session",
    NO_CLASS: "学生所在班级不存在 / the pupil's class is unknown",
    GRADE_IN_NO_BAND: "年级不属于任何年级段 / the grade belongs to no grade band",
    BAND_NOT_IN_SESSION: "该年级段不参加此时段 / the grade band does not attend this session",
}


class ScheduleError(ValueError):
    """The schedule is malformed; `field` is a path such as ``sessions[1].seasons[0].starts``."""

    def __init__(self, field: str, reason: str) -> None:
        # args carry both parts so the error survives pickling and re-raising intact.
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class UnknownSessionError(KeyError):
    """No session with this key in the schedule."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"unknown session {self.key!r}"


class FrozenMap(Mapping[K, V]):
    """An immutable, hashable mapping, so frozen dataclasses holding one stay hashable."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = dict(data or {})

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is not grade 1


def _month_day(text: str, path: str) -> tuple[int, int]:
    match = _MMDD.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ScheduleError(path, f"{text!r} is not a MM-DD date")
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so 02-29 is a valid boundary
    except ValueError:
        raise ScheduleError(path, f"{text!r} is not a day of the year") from None
    return month, day


@dataclass(frozen=True)
class GradeBand:
    key: str
    name: str
    grades: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "grades", tuple(self.grades))


@dataclass(frozen=True)
class Season:
    """A yearly window [starts, ends) in MM-DD; ends before starts means it wraps over New Year."""

    name: str
    starts: str
    ends: str
    start: time | None = None
    dismissals: Mapping[str, time] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dismissals", FrozenMap(self.dismissals))

    def covers(self, day: date) -> bool:
        lo = _month_day(self.starts, "starts")
        hi = _month_day(self.ends, "ends")
        md = (day.month, day.day)
        if lo <= hi:
            return lo <= md < hi  # starts == ends is an empty window; validate() rejects it
        return md >= lo or md < hi


@dataclass(frozen=True)
class SessionSpec:
    key: str
    name: str
    start: time
    dismissals: Mapping[str, time]
    weekdays: tuple[int, ...]
    seasons: tuple[Season, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "dismissals", FrozenMap(self.dismissals))
        object.__setattr__(self, "weekdays", tuple(self.weekdays))
        object.__setattr__(self, "seasons", tuple(self.seasons))

    def season_on(self, day: date) -> Season | None:
        """The first season whose window holds the day; order decides only if windows overlap."""
        return next((s for s in self.seasons if s.covers(day)), None)

    def start_on(self, day: date) -> time:
        season = self.season_on(day)
        return season.start if season is not None and season.start is not None else self.start

    def dismissal_on(self, band_key: str, day: date) -> time | None:
        # A season only re-times bands that attend; it never adds a band to the session.
        if band_key not in self.dismissals:
            return None
        season = self.season_on(day)
        if season is not None and band_key in season.dismissals:
            return season.dismissals[band_key]
        return self.dismissals[band_key]


@dataclass(frozen=True)
class Schedule:
    """Times are looked up for a calendar date whether or not the session runs; see runs_on."""

    bands: tuple[GradeBand, ...]
    sessions: tuple[SessionSpec, ...]
    no_service_dates: frozenset[date] = frozenset()
    grace_minutes: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(self.bands))
        object.__setattr__(self, "sessions", tuple(self.sessions))
        object.__setattr__(self, "no_service_dates", frozenset(self.no_service_dates))

    def band_of(self, grade: int) -> GradeBand | None:
        return next((b for b in self.bands if grade in b.grades), None)

    def session(self, key: str) -> SessionSpec:
        for spec in self.sessions:
            if spec.key == key:
                return spec
        raise UnknownSessionError(key)

    def sessions_on(self, day: date) -> tuple[SessionSpec, ...]:
        if day in self.no_service_dates:
            return ()
        return tuple(s for s in self.sessions if day.isoweekday() in s.weekdays)

    def runs_on(self, key: str, day: date) -> bool:
        # Look the key up first: a typo must raise, not read as "no service today".
        spec = self.session(key)
        return day not in self.no_service_dates and day.isoweekday() in spec.weekdays

    def start_at(self, key: str, day: date, tz: ZoneInfo) -> datetime:
        return datetime.combine(day, self.session(key).start_on(day), tzinfo=tz)

    def dismissal_at(self, key: str, grade: int, day: date, tz: ZoneInfo) -> datetime | None:
        spec = self.session(key)
        band = self.band_of(grade)
        if band is None:
            return None
        at = spec.dismissal_on(band.key, day)
        return None if at is None else datetime.combine(day, at, tzinfo=tz)

    def deadline_at(self, key: str, grade: int, day: date, tz: ZoneInfo) -> datetime | None:
        dismissal = self.dismissal_at(key, grade, day, tz)
        if dismissal is None:
            return None
        # Grace is elapsed time, so add it in UTC; wall-clock addition drifts across DST shifts.
        later = dismissal.astimezone(UTC) + timedelta(minutes=self.grace_minutes)
        return later.astimezone(tz)

    def deadline_gap(self, key: str, grade: int | None) -> str | None:
        """Why no deadline can be computed for this grade in this session; None when one can."""
        if not any(s.key == key for s in self.sessions):
            return NO_SUCH_SESSION
        if grade is None:
            return NO_CLASS
        band = self.band_of(grade)
        if band is None:
            return GRADE_IN_NO_BAND
        if band.key not in self.session(key).dismissals:
            return BAND_NOT_IN_SESSION  # a season never adds a band, so no date fills the gap
        return None

    def latest_deadline_at(self, key: str, day: date, tz: ZoneInfo) -> datetime | None:
        """The session's last deadline of the day: the time by which every attending band is gone."""
        spec = self.session(key)
        dismissals = [d for b in spec.dismissals if (d := spec.dismissal_on(b, day)) is not None]
        if not dismissals:
            return None
        later = datetime.combine(day, max(dismissals), tzinfo=tz).astimezone(UTC)
        return (later + timedelta(minutes=self.grace_minutes)).astimezone(tz)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bands": [{"key": b.key, "name": b.name, "grades": list(b.grades)} for b in self.bands],
            "sessions": [_session_to_dict(s) for s in self.sessions],
            "no_service_dates": sorted(d.isoformat() for d in self.no_service_dates),
            "grace_minutes": self.grace_minutes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        """Parse strictly but do not validate(): replaying an old event must not hit newer rules."""
        bands = tuple(
            GradeBand(
                key=_get(b, "key", f"bands[{i}]", str),
                name=_get(b, "name", f"bands[{i}]", str),
                grades=tuple(_ints(_get(b, "grades", f"bands[{i}]", list), f"bands[{i}].grades")),
            )
            for i, b in enumerate(_get(data, "bands", "", list))
        )
        raw_sessions = _get(data, "sessions", "", list)
        sessions = tuple(_session_from(s, f"sessions[{i}]") for i, s in enumerate(raw_sessions))
        dates = frozenset(
            _parse(d, f"no_service_dates[{i}]", date.fromisoformat, "an ISO date")
            for i, d in enumerate(_get(data, "no_service_dates", "", list, []))
        )
        grace = _get(data, "grace_minutes", "", int, 10)
        return cls(bands=bands, sessions=sessions, no_service_dates=dates, grace_minutes=grace)

    def validate(self) -> None:
        grace = self.grace_minutes
        if not _is_int(grace) or not 0 <= grace <= _MAX_GRACE:
            raise ScheduleError("grace_minutes", f"must be 0..{_MAX_GRACE} minutes, got {grace!r}")
        owner: dict[int, str] = {}
        for i, band in enumerate(self.bands):
            path = f"bands[{i}]"
            if not band.key.strip():
                raise ScheduleError(f"{path}.key", "must not be empty")
            if band.key in owner.values():
                raise ScheduleError(f"{path}.key", f"duplicate band key {band.key!r}")
            if not band.grades:
                raise ScheduleError(f"{path}.grades", "must list at least one grade")
            for grade in band.grades:
                if not _is_int(grade) or grade < 1:
                    raise ScheduleError(f"{path}.grades", f"{grade!r} is not a school grade")
                if grade in owner:
                    reason = f"grade {grade} already belongs to band {owner[grade]!r}"
                    raise ScheduleError(f"{path}.grades", reason)
                owner[grade] = band.key
        band_keys = set(owner.values())
        seen: set[str] = set()
        for i, spec in enumerate(self.sessions):
            _validate_session(spec, f"sessions[{i}]", band_keys, seen)
            seen.add(spec.key)


def _validate_session(spec: SessionSpec, path: str, band_keys: set[str], seen: set[str]) -> None:
    if not isinstance(spec.key, str) or not _SLUG.fullmatch(spec.key):
        raise ScheduleError(f"{path}.key", f"{spec.key!r} is not a slug of a-z, 0-9 and _")
    if spec.key in seen:
        raise ScheduleError(f"{path}.key", f"duplicate session key {spec.key!r}")
    if not spec.weekdays:
        raise ScheduleError(f"{path}.weekdays", "must list at least one weekday")
    for weekday in spec.weekdays:
        if not _is_int(weekday) or not 1 <= weekday <= 7:
            raise ScheduleError(f"{path}.weekdays", f"{weekday!r} is not an ISO weekday 1..7")
    if len(set(spec.weekdays)) != len(spec.weekdays):
        raise ScheduleError(f"{path}.weekdays", "a weekday is listed twice")
    if not spec.dismissals:
        raise ScheduleError(f"{path}.dismissals", "no band attends this session")
    for band_key, at in spec.dismissals.items():
        if band_key not in band_keys:
            raise ScheduleError(f"{path}.dismissals.{band_key}", f"unknown band {band_key!r}")
        if at <= spec.start:
            reason = f"dismissal {at:%H:%M} is not after start {spec.start:%H:%M}"
            raise ScheduleError(f"{path}.dismissals.{band_key}", reason)
    # Which season applies must not depend on declaration order, so windows may not overlap.
    taken: dict[int, int] = {}
    for j, season in enumerate(spec.seasons):
        sp = f"{path}.seasons[{j}]"
        if _month_day(season.starts, f"{sp}.starts") == _month_day(season.ends, f"{sp}.ends"):
            raise ScheduleError(f"{sp}.ends", "window is empty: ends equals starts")
        for band_key in season.dismissals:
            if band_key not in spec.dismissals:
                reason = "band does not attend session" if band_key in band_keys else "unknown band"
                raise ScheduleError(f"{sp}.dismissals.{band_key}", f"{reason} {band_key!r}")
        start = season.start if season.start is not None else spec.start
        for band_key in spec.dismissals:
            at = season.dismissals.get(band_key, spec.dismissals[band_key])
            if at <= start:
                # Blame what the season changed: its own dismissal, else its later start.
                own = band_key in season.dismissals
                where = f"{sp}.dismissals.{band_key}" if own else f"{sp}.start"
                reason = f"dismissal {at:%H:%M} of {band_key!r} is not after start {start:%H:%M}"
                raise ScheduleError(where, reason)
        for ordinal in _days_in(season):
            if ordinal in taken:
                other = spec.seasons[taken[ordinal]]
                raise ScheduleError(sp, f"window overlaps seasons[{taken[ordinal]}] {other.name!r}")
            taken[ordinal] = j


def _days_in(season: Season) -> Iterator[int]:
    first = date(2000, 1, 1)  # a leap year, so every MM-DD occurs
    for offset in range(366):
        day = first + timedelta(days=offset)
        if season.covers(day):
            yield offset


def _time_text(at: time) -> str:
    # "HH:MM" as schools write it; seconds are kept only if present, so round-trips stay exact.
    return at.strftime("%H:%M") if at.second == 0 and at.microsecond == 0 else at.isoformat()


def _session_to_dict(spec: SessionSpec) -> dict[str, Any]:
    return {
        "key": spec.key,
        "name": spec.name,
        "start": _time_text(spec.start),
        "dismissals": {k: _time_text(v) for k, v in spec.dismissals.items()},
        "weekdays": list(spec.weekdays),
        "seasons": [
            {
                "name": s.name,
                "starts": s.starts,
                "ends": s.ends,
                "start": None if s.start is None else _time_text(s.start),
                "dismissals": {k: _time_text(v) for k, v in s.dismissals.items()},
            }
            for s in spec.seasons
        ],
    }


def _season_from(data: Any, path: str) -> Season:
    start = _get(data, "start", path, (str, type(None)), None)
    return Season(
        name=_get(data, "name", path, str),
        starts=_get(data, "starts", path, str),
        ends=_get(data, "ends", path, str),
        start=None if start is None else _hhmm(start, f"{path}.start"),
        dismissals=_times(_get(data, "dismissals", path, Mapping, {}), f"{path}.dismissals"),
    )


def _session_from(data: Any, path: str) -> SessionSpec:
    return SessionSpec(
        key=_get(data, "key", path, str),
        name=_get(data, "name", path, str),
        start=_hhmm(_get(data, "start", path, str), f"{path}.start"),
        dismissals=_times(_get(data, "dismissals", path, Mapping), f"{path}.dismissals"),
        weekdays=tuple(_ints(_get(data, "weekdays", path, list), f"{path}.weekdays")),
        seasons=tuple(
            _season_from(s, f"{path}.seasons[{j}]")
            for j, s in enumerate(_get(data, "seasons", path, list, []))
        ),
    )


_MISSING: Any = object()


def _get(data: Any, key: str, path: str, kind: Any, default: Any = _MISSING) -> Any:
    """data[key] checked against kind, naming the field path on error; bool is never an int."""
    if not isinstance(data, Mapping):
        raise ScheduleError(path or "$", "expected an object")
    where = f"{path}.{key}" if path else key
    if key not in data:
        if default is _MISSING:
            raise ScheduleError(where, "missing")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ScheduleError(where, f"unexpected {type(value).__name__} {value!r}")
    return value


def _ints(values: list[Any], path: str) -> list[int]:
    for i, value in enumerate(values):
        if not _is_int(value):
            raise ScheduleError(f"{path}[{i}]", f"{value!r} is not an integer")
    return values


def _parse(value: Any, path: str, parse: Callable[[str], T], what: str) -> T:
    if isinstance(value, str):
        try:
            return parse(value)
        except ValueError:
            pass
    raise ScheduleError(path, f"{value!r} is not {what}")


def _hhmm(value: Any, path: str) -> time:
    return _parse(value, path, time.fromisoformat, "a HH:MM time")


def _times(value: Mapping[Any, Any], path: str) -> dict[str, time]:
    return {str(k): _hhmm(v, f"{path}.{k}") for k, v in value.items()}


PRIMARY_GRADES = (1, 2, 3, 4, 5, 6)


def default_schedule(grades: tuple[int, ...] = PRIMARY_GRADES) -> Schedule:
    """A typical school: noon care Mon–Fri, after-school care Mon–Thu, staggered by band.

    Primary grades fall in three bands (低/中/高年级); grades 7–9 of a middle or nine-year
    school form one more (初中), dismissed last. Only bands holding a taught grade are kept.
    """
    all_bands = (
        GradeBand("low", "低年级", (1, 2)),
        GradeBand("middle", "中年级", (3, 4)),
        GradeBand("upper", "高年级", (5, 6)),
        GradeBand("junior", "初中", (7, 8, 9)),
    )
    bands = tuple(GradeBand(b.key, b.name, tuple(g for g in b.grades if g in grades))
                  for b in all_bands if any(g in grades for g in b.grades))
    keys = [b.key for b in bands]

    def by_band(low: str, middle: str, upper: str, junior: str | None = None) -> dict[str, time]:
        times = {"low": low, "middle": middle, "upper": upper, "junior": junior or upper}
        return {k: _hhmm(times[k], "") for k in keys}

    # Seasons turn on May Day and National Day, as most provinces' 作息时间 do.
    spring, autumn = ("春夏", "05-01", "10-01"), ("秋冬", "10-01", "05-01")
    noon = SessionSpec(
        "noon", "午托", time(12, 10), by_band("13:30", "13:30", "13:30"), (1, 2, 3, 4, 5),
        seasons=(
            Season(*spring, dismissals=by_band("14:00", "14:00", "14:00")),
            Season(*autumn, dismissals=by_band("13:30", "13:30", "13:30")),
        ),
    )  # fmt: skip
    after_school = SessionSpec(
        "after_school", "课后服务", time(15, 40), by_band("17:00", "17:20", "17:30", "17:50"),
        (1, 2, 3, 4),  # many schools hold no after-school service on Friday
        seasons=(
            Season(*autumn, dismissals=by_band("17:00", "17:20", "17:30", "17:50")),
            Season(*spring, dismissals=by_band("17:30", "17:50", "18:00", "18:20")),
        ),
    )  # fmt: skip
    return Schedule(bands, (noon, after_school), grace_minutes=10)
