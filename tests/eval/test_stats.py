"""Every interval of the reports (`mimic_keras.eval.stats`)."""

import numpy as np
import pytest

from mimic_keras.eval import stats
from mimic_keras.eval.per import phone_error_rate


def test_accuracy_ci95_is_the_binomial_normal_interval():
    correct = np.array([True] * 50 + [False] * 50)
    assert stats.accuracy_ci95(correct) == pytest.approx(1.96 * 0.05)
    assert stats.accuracy_ci95(np.ones(10, bool)) == 0.0


def test_frame_accuracy_ci95_treats_utterances_as_clusters():
    # Two utterances, one all right, one all wrong: p = 1/2, Σ (c - p n)² = 2, × m/(m-1) = 2, / (Σ n)² = 16.
    assert stats.frame_accuracy_ci95([np.ones(2, bool), np.zeros(2, bool)]) == pytest.approx(1.96 * 0.5)
    # Frames of one utterance move together: wider than the interval of independent frames.
    rng = np.random.default_rng(0)
    correct = [np.full(100, rng.random() < 0.5) for _ in range(40)]
    flat = np.concatenate(correct)
    iid = 1.96 * np.sqrt(flat.mean() * (1 - flat.mean()) / len(flat))
    assert stats.frame_accuracy_ci95(correct) > 5 * iid
    assert np.isnan(stats.frame_accuracy_ci95([np.ones(3, bool)]))


def test_per_bootstrap_resamples_speakers():
    refs = [["a", "b", "c", "d"]] * 6
    same = [["a", "b", "c", "x"]] * 6  # every speaker at PER 0.25: no spread
    assert stats.per_bootstrap_ci95(refs, same, ["s1", "s1", "s2", "s2", "s3", "s3"]) == (0.25, 0.25)
    mixed = [["a", "b", "c", "d"]] * 3 + [["x", "x", "c", "d"]] * 3  # speakers at PER 0 and 0.5
    low, high = stats.per_bootstrap_ci95(refs, mixed, ["s1", "s2", "s3", "s4", "s5", "s6"])
    assert low < phone_error_rate(refs, mixed) < high and 0.0 <= low and high <= 0.5
    # All of a speaker's utterances move together: two speakers give only 3 possible rates.
    low2, high2 = stats.per_bootstrap_ci95(refs, mixed, ["s1"] * 3 + ["s2"] * 3)
    assert (low2, high2) == (0.0, 0.5)


def test_per_difference_is_paired_over_speakers():
    refs = [["a", "b", "c", "d"]] * 6
    speakers = ["s1", "s2", "s3", "s4", "s5", "s6"]
    # Speakers differ a lot (PER 0 or 0.5), but B is always one error per utterance worse than A.
    a = [["a", "b", "c", "d"]] * 3 + [["x", "x", "c", "d"]] * 3
    b = [["a", "b", "c", "y"]] * 3 + [["x", "x", "y", "d"]] * 3
    diff, low, high = stats.per_difference_bootstrap_ci95(refs, a, b, speakers)
    assert diff == pytest.approx(-0.25) and low == pytest.approx(-0.25) and high == pytest.approx(-0.25)
    unpaired = stats.per_bootstrap_ci95(refs, a, speakers)
    assert unpaired[1] - unpaired[0] > 0.2  # the shared speaker spread, gone from the paired interval
    # A system against itself: exactly zero.
    assert stats.per_difference_bootstrap_ci95(refs, a, a, speakers) == (0.0, 0.0, 0.0)


def test_paired_accuracy_difference():
    a = np.array([1, 1, 1, 1, 0, 0, 1, 1, 0, 1] * 100, bool)
    b = a.copy()
    b[:50] = ~b[:50]  # B flips 50 of 1,000 answers: 35 right → wrong, 15 wrong → right
    diff, half = stats.paired_difference_ci95(a, b)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    d = a.astype(float) - b
    assert half == pytest.approx(1.96 * d.std(ddof=1) / np.sqrt(len(d)))
    assert stats.paired_difference_ci95(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="two or more"):
        stats.paired_difference_ci95([True], [False])


def test_agreement_of_argmax_classes():
    a = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert stats.agreement(a, a) == 1.0
    assert stats.agreement(a, -a) == 0.0
    assert stats.agreement(a, a[[0, 1, 3, 2]]) == 0.5
