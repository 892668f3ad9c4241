"""Every event topic a store of the earlier release holds still names the same nested event class."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import sqlite3
from pathlib import Path

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.utils import resolve_topic

import service.application  # noqa: F401  (imports every aggregate)
from service.domain.pupil import Pupil
from service.domain.school import School
from service.domain.staff import StaffToken

FIXTURES = Path(__file__).parent / "fixtures"


def _legacy_topics(tmp_path: Path, release: str) -> set[str]:
    target = tmp_path / "legacy.sqlite3"
    with gzip.open(FIXTURES / f"{release}.sqlite3.gz") as packed, target.open("wb") as out:
        shutil.copyfileobj(packed, out)
    with sqlite3.connect(target) as db:
        return {row[0] for row in db.execute("SELECT DISTINCT topic FROM stored_events")}


@pytest.mark.parametrize("release", ["legacy-main-562a828", "legacy-main-b4cde03"])
def test_every_topic_of_the_earlier_release_resolves_to_the_class_it_names(tmp_path: Path,
                                                                          release: str) -> None:
    topics = _legacy_topics(tmp_path, release)
    assert len(topics) > 20
    for topic in topics:
        module, _, qualname = topic.partition(":")
        cls = resolve_topic(topic)
        assert (cls.__module__, cls.__qualname__) == (module, qualname)
        owner = resolve_topic(f"{module}:{qualname.rsplit('.', 1)[0]}")
        assert issubclass(owner, Aggregate) and issubclass(cls, owner.Event)


def test_school_pupil_and_token_events_keep_the_fields_their_stored_json_has() -> None:
    def fields(cls: type) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)} - {
            "originator_id", "originator_version", "timestamp", "originator_topic"}

    assert fields(School.ClassAdded) == {"class_id", "grade", "class_no", "label",
                                         "homeroom_teacher_id", "by"}
    assert fields(School.PupilsRegistered) == {"entries", "by"}
    assert fields(Pupil.AdultAuthorised) == {
        "authorisation_id", "name", "relation", "phone", "id_tail", "valid_from", "valid_to",
        "document", "given_by_guardian_id", "via", "caller", "one_day", "by"}
    assert fields(Pupil.EnrolmentWithdrawn) == {"on", "reason", "by"}
    assert fields(StaffToken.Revoked) == {"by"}
