"""Proposing homework groups: big classes alone, small classes merged within and across grades."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.grouping import ClassCount, ProposedGroup, propose_groups


def klass(grade: int, number: int, count: int) -> ClassCount:
    cn = "一二三四五六七八九"[grade - 1]
    return ClassCount(f"g{grade}c{number}", grade, f"{cn}年级({number})班", count)


def test_a_class_of_45_stays_one_group_of_its_own() -> None:
    groups = propose_groups([klass(3, 1, 45), klass(3, 2, 50)])

    assert groups == (
        ProposedGroup("三年级(1)班作业组", ("g3c1",), (3,), 45),
        ProposedGroup("三年级(2)班作业组", ("g3c2",), (3,), 50),
    )


def test_a_class_of_exactly_the_threshold_is_not_merged() -> None:
    groups = propose_groups([klass(2, 1, 40), klass(2, 2, 41)])

    assert [g.class_ids for g in groups] == [("g2c1",), ("g2c2",)]


def test_two_small_classes_of_20_and_25_merge_into_one_group_of_45() -> None:
    groups = propose_groups([klass(3, 1, 20), klass(3, 2, 25)])

    assert groups == (ProposedGroup("三年级(1)(2)班作业组", ("g3c1", "g3c2"), (3,), 45),)


def test_15_20_and_30_merge_twice_into_one_group_of_65() -> None:
    # 15 joins the next-smallest 20 (35, still small), which then joins the 30.
    groups = propose_groups([klass(4, 1, 30), klass(4, 2, 15), klass(4, 3, 20)])

    assert groups == (ProposedGroup("四年级(1)(2)(3)班作业组", ("g4c1", "g4c2", "g4c3"), (4,), 65),)


def test_a_small_class_joins_the_smallest_other_class_even_a_big_one() -> None:
    groups = propose_groups([klass(5, 1, 60), klass(5, 2, 45), klass(5, 3, 10)])

    assert [(g.class_ids, g.count) for g in groups] == [
        (("g5c1",), 60),
        (("g5c2", "g5c3"), 55),
    ]


def test_a_grade_of_30_merges_with_the_lower_adjacent_grade() -> None:
    groups = propose_groups([klass(2, 1, 45), klass(3, 1, 12), klass(3, 2, 18), klass(4, 1, 50)])

    assert groups == (
        ProposedGroup("二三年级混合作业组", ("g2c1", "g3c1", "g3c2"), (2, 3), 75),
        ProposedGroup("四年级(1)班作业组", ("g4c1",), (4,), 50),
    )


def test_the_lowest_grade_when_small_merges_with_the_grade_above() -> None:
    groups = propose_groups([klass(1, 1, 30), klass(2, 1, 42), klass(2, 2, 44)])

    assert groups == (
        ProposedGroup("一二年级混合作业组", ("g1c1", "g2c1"), (1, 2), 72),
        ProposedGroup("二年级(2)班作业组", ("g2c2",), (2,), 44),
    )


def test_small_adjacent_grades_chain_into_one_mixed_group() -> None:
    groups = propose_groups([klass(1, 1, 10), klass(2, 1, 10), klass(3, 1, 10)])

    assert groups == (
        ProposedGroup("一二三年级混合作业组", ("g1c1", "g2c1", "g3c1"), (1, 2, 3), 30),
    )


def test_a_small_grade_with_no_adjacent_grade_stays_a_small_group() -> None:
    groups = propose_groups([klass(2, 1, 12), klass(4, 1, 45)])

    assert groups == (
        ProposedGroup("二年级(1)班作业组", ("g2c1",), (2,), 12),
        ProposedGroup("四年级(1)班作业组", ("g4c1",), (4,), 45),
    )


def test_classes_with_nobody_staying_are_left_out() -> None:
    groups = propose_groups([klass(3, 1, 0), klass(3, 2, 41)])

    assert groups == (ProposedGroup("三年级(2)班作业组", ("g3c2",), (3,), 41),)
    assert propose_groups([klass(3, 1, 0)]) == ()
    assert propose_groups([]) == ()


def test_the_proposal_does_not_depend_on_input_order() -> None:
    classes = [klass(g, n, 7 * g + 3 * n) for g in range(1, 7) for n in range(1, 5)]

    forwards = propose_groups(classes)
    backwards = propose_groups(list(reversed(classes)))

    assert forwards == backwards
    assert sum(g.count for g in forwards) == sum(c.count for c in classes)
    assert sorted(i for g in forwards for i in g.class_ids) == sorted(c.class_id for c in classes)
    assert all(g.count > 0 and g.class_ids for g in forwards)


def test_equal_counts_are_broken_by_class_number_in_natural_order() -> None:
    # (2)班 sorts before (10)班, so the small (9)班 joins (2)班 rather than (10)班.
    classes = [klass(6, 10, 45), klass(6, 2, 45), klass(6, 9, 10)]

    groups = propose_groups(classes)

    assert groups == (
        ProposedGroup("六年级(2)(9)班作业组", ("g6c2", "g6c9"), (6,), 55),
        ProposedGroup("六年级(10)班作业组", ("g6c10",), (6,), 45),
    )


def test_a_lower_threshold_keeps_smaller_classes_apart() -> None:
    groups = propose_groups([klass(3, 1, 20), klass(3, 2, 25)], threshold=20)

    assert [g.count for g in groups] == [20, 25]


def test_a_label_without_digits_is_used_in_the_group_name() -> None:
    groups = propose_groups([ClassCount("x", 7, "英才班", 45)])

    assert groups[0].name == "七年级(英才)班作业组"


def test_clashing_names_are_numbered_to_stay_unique() -> None:
    same_label = [ClassCount("a", 3, "(1)班", 45), ClassCount("b", 3, "(1)班", 45)]

    assert [g.name for g in propose_groups(same_label)] == [
        "三年级(1)班作业组",
        "三年级(1)班作业组2",
    ]


@pytest.mark.parametrize(
    ("classes", "threshold"),
    [
        ([klass(3, 1, -1)], 40),
        ([klass(3, 1, 10), klass(3, 1, 20)], 40),
        ([klass(3, 1, 10)], 0),
    ],
)
def test_bad_input_is_refused(classes: list[ClassCount], threshold: int) -> None:
    with pytest.raises(ValueError):
        propose_groups(classes, threshold=threshold)


@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.integers(1, 12), st.integers(0, 70)),
        max_size=30,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_every_staying_pupil_lands_in_exactly_one_non_empty_group(
    rows: list[tuple[int, int, int]],
) -> None:
    classes = [klass(grade, number, count) for grade, number, count in rows]

    groups = propose_groups(classes)

    staying = sorted(c.class_id for c in classes if c.count > 0)
    assert sorted(i for g in groups for i in g.class_ids) == staying
    assert all(g.count > 0 for g in groups)
    assert sum(g.count for g in groups) == sum(c.count for c in classes)
    assert len({g.name for g in groups}) == len(groups)
    assert propose_groups(list(reversed(classes))) == groups
