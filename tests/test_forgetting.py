"""Continual-learning metrics on hand-computed R matrices, and the t-based confidence interval."""

from __future__ import annotations

import math

import pytest

from cstool.continual import forgetting as F

R3 = [
    [0.9, 0.1, 0.2],
    [0.6, 0.8, 0.3],
    [0.5, 0.7, 0.9],
]


def test_full_matrix_by_hand():
    m = F.all_metrics(R3)
    assert m["Last"] == pytest.approx((0.5 + 0.7 + 0.9) / 3)
    assert m["Avg"] == pytest.approx((0.9 + (0.6 + 0.8) / 2 + (0.5 + 0.7 + 0.9) / 3) / 3)
    assert m["BWT"] == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)  # -0.25
    assert m["FWT"] == pytest.approx(((0.1 - 0.1) + (0.3 - 0.2)) / 2)  # 0.05
    assert m["Forgetting"] == pytest.approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2)  # 0.25


def test_missing_entries_are_left_out_of_their_means():
    R = [row[:] for row in R3]
    R[1][0] = None
    R[2][1] = float("nan")
    m = F.all_metrics(R)
    assert m["Last"] == pytest.approx((0.5 + 0.9) / 2)
    assert m["Avg"] == pytest.approx((0.9 + 0.8 + (0.5 + 0.9) / 2) / 3)
    assert m["BWT"] == pytest.approx(0.5 - 0.9)  # the j=1 term needs R[2][1]
    assert m["FWT"] == pytest.approx(((0.1 - 0.1) + (0.3 - 0.2)) / 2)
    assert m["Forgetting"] == pytest.approx(0.9 - 0.5)  # max over k<2 of column 0 skips R[1][0]


def test_forgetting_takes_the_best_earlier_score():
    # Task 0 peaks after task 1, then drops: forgetting is measured from the peak, BWT from the diagonal.
    R = [[0.5, 0.0, 0.0], [0.8, 0.6, 0.0], [0.4, 0.6, 0.7]]
    assert F.forgetting(R) == pytest.approx(((0.8 - 0.4) + (0.6 - 0.6)) / 2)
    assert F.bwt(R) == pytest.approx(((0.4 - 0.5) + (0.6 - 0.6)) / 2)


def test_one_task_run():
    m = F.all_metrics([[0.42]])
    assert m == {"Last": 0.42, "Avg": 0.42, "BWT": None, "FWT": None, "Forgetting": None}


def test_all_missing_gives_none_and_bad_shapes_raise():
    assert F.last([[1.0, None], [None, None]]) is None
    with pytest.raises(ValueError, match="square"):
        F.last([[1.0, 2.0]])
    with pytest.raises(ValueError):
        F.last([])


def test_lm_scores_are_oriented_so_higher_is_better():
    bpb = [[1.0, 3.0], [1.5, 1.2]]  # English bpb rises from 1.0 to 1.5 after training on task 1
    sign, name = F.orient("bpb")
    assert name == "-bpb"
    scores = [[sign * v for v in row] for row in bpb]
    assert F.forgetting(scores) == pytest.approx(0.5)
    assert F.bwt(scores) == pytest.approx(-0.5)
    assert F.orient("accuracy") == (1.0, "accuracy")


@pytest.mark.parametrize("df,expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (30, 2.0423)])
def test_t_quantile_matches_tables(df, expected):
    assert F.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_mean_ci95():
    mean, ci, n = F.mean_ci95([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert ci == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert F.mean_ci95([5.0]) == (5.0, None, 1)
    assert F.mean_ci95([None, float("nan")]) == (None, None, 0)
