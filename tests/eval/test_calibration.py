import numpy as np
import pytest

from mimic_keras.eval import calibration


def test_nll_of_uniform_logits_is_log_classes():
    logits = np.zeros((5, 4))
    assert calibration.nll(logits, np.array([0, 1, 2, 3, 0])) == pytest.approx(np.log(4))
    assert calibration.entropy(logits) == pytest.approx(np.log(4))


def test_log_softmax_is_stable_and_ignores_a_per_row_shift():
    logits = np.array([[1000.0, 0.0], [3.0, 1.0]])
    out = calibration.log_softmax(logits)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[1], calibration.log_softmax(logits[1:] + 7.5)[0])
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0)


def test_ece_by_hand():
    # Two examples at confidence 0.9 (one right), two at ~0.6 (both right): bins at 0.9 and 0.6.
    hi, lo = np.log(9.0), np.log(1.5)  # softmax([x, 0]) = 0.9 and 0.6
    logits = np.array([[hi, 0.0], [hi, 0.0], [lo, 0.0], [lo, 0.0]])
    labels = np.array([0, 1, 0, 0])
    expected = (2 * abs(0.5 - 0.9) + 2 * abs(1.0 - 0.6)) / 4
    assert calibration.expected_calibration_error(logits, labels) == pytest.approx(expected)


def test_a_sharper_model_of_the_same_accuracy_has_a_higher_nll_when_wrong():
    labels = np.array([0, 0, 0, 1])
    soft = np.array([[1.0, 0.0]] * 4)
    sharp = soft * 20.0
    a, b = calibration.summary(soft, labels), calibration.summary(sharp, labels)
    assert a["accuracy"] == b["accuracy"] == 0.75
    assert b["nll"] > a["nll"] and b["confidence"] > a["confidence"] and b["entropy"] < a["entropy"]


def test_kl_to_teacher_is_zero_for_the_teacher_and_ignores_its_shift():
    teacher = np.random.default_rng(0).normal(size=(6, 5))
    assert calibration.kl_to_teacher(teacher + 3.0, teacher) == pytest.approx(0.0, abs=1e-12)
    assert calibration.kl_to_teacher(np.zeros_like(teacher), teacher) > 0.0
    assert "kl_to_teacher" in calibration.summary(teacher, np.zeros(6, int), teacher)


def test_l2_to_teacher_splits_into_the_shift_softmax_ignores_and_the_rest():
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(8, 5))
    student = teacher + rng.normal(size=(8, 5))
    parts = calibration.l2_to_teacher(student, teacher)
    assert parts["l2"] == pytest.approx(0.5 * np.mean(np.sum((student - teacher) ** 2, -1)))
    assert parts["l2"] == pytest.approx(parts["l2_shift"] + parts["l2_centred"])
    # a pure shift is all shift part (½·C·shift²); adding one per example leaves the centred part as it was
    shifted = calibration.l2_to_teacher(teacher + 3.0, teacher)
    assert shifted["l2_centred"] == pytest.approx(0.0, abs=1e-12)
    assert shifted["l2_shift"] == pytest.approx(0.5 * 5 * 9.0)
    moved = calibration.l2_to_teacher(student + rng.normal(size=(8, 1)), teacher)
    assert moved["l2_centred"] == pytest.approx(parts["l2_centred"])
    assert moved["l2_shift"] != pytest.approx(parts["l2_shift"])


def test_logit_spread_ignores_a_shift_and_scales_with_the_logits():
    logits = np.array([[1.0, -1.0], [3.0, 1.0]])  # both rows are ±1 about their mean
    assert calibration.logit_spread(logits) == pytest.approx(1.0)
    assert calibration.logit_spread(logits * 4.0 + 10.0) == pytest.approx(4.0)
    row = calibration.summary(logits, np.zeros(2, int), logits * 2.0)
    assert row["spread"] == pytest.approx(1.0) and row["teacher_spread"] == pytest.approx(2.0)
    # differences [-1, 1] and [-3, -1]: centred ±1 each (½·2 = 1); shifts 0 and -2 (½·2·mean(0, 4) = 2)
    assert row["l2_centred_to_teacher"] == pytest.approx(1.0) and row["l2_shift_to_teacher"] == pytest.approx(2.0)
