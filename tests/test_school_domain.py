"""The school's set-up on the aggregate alone: the events each command collects."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from service.domain.errors import ConflictError
from service.domain.school import School
from tests.refs import actor

ADMIN = actor("a1", "王校长", "admin")


def names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def a_primary_school() -> School:
    school = School.found("实验小学", "Asia/Shanghai", "primary")
    school.declare_grades("primary", ADMIN)
    school.collect_events()
    return school


def test_the_same_class_twice_is_a_conflict_and_records_nothing() -> None:
    school = a_primary_school()
    school.add_class("c1", 3, 2, "三年级(2)班", None, ADMIN)
    [added] = school.collect_events()
    assert names([added]) == ["ClassAdded"]

    with pytest.raises(ConflictError) as conflict:
        school.add_class("c2", 3, 2, "三年级(2)班", None, ADMIN)

    assert conflict.value.state == {"label": "三年级(2)班"}
    assert school.collect_events() == []
    assert list(school.classes) == ["c1"]
