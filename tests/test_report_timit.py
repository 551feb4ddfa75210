"""report_timit's per-student scores (mimic_sweep's TIMIT rows) and their confidence interval."""

import os

import keras
import numpy as np
import pytest

from mimic_keras import decoding
from mimic_keras.report_timit import frame_accuracy_ci95, student_scores


def test_frame_accuracy_ci95_treats_utterances_as_clusters():
    # Two utterances, one all right, one all wrong: p = 1/2, Σ (c - p n)² = 2, × m/(m-1) = 2, / (Σ n)² = 16.
    assert frame_accuracy_ci95([np.ones(2, bool), np.zeros(2, bool)]) == pytest.approx(1.96 * 0.5)
    # Frames of one utterance move together: wider than the interval of independent frames.
    rng = np.random.default_rng(0)
    correct = [np.full(100, rng.random() < 0.5) for _ in range(40)]
    flat = np.concatenate(correct)
    iid = 1.96 * np.sqrt(flat.mean() * (1 - flat.mean()) / len(flat))
    assert frame_accuracy_ci95(correct) > 5 * iid
    assert np.isnan(frame_accuracy_ci95([np.ones(3, bool)]))


def test_student_scores_of_the_teacher_itself(timit_perturbed_labelled, tmp_path):
    data, transfer, teacher = timit_perturbed_labelled
    model = keras.saving.load_model(teacher, compile=False)
    scores = student_scores(model, data, transfer, 7, str(tmp_path / "transcripts"))
    assert scores["test_agreement"] == 1.0
    assert scores["val_l2_to_teacher"] == pytest.approx(0.0, abs=1e-6)
    assert scores["test_l2_to_teacher"] == pytest.approx(0.0, abs=1e-6)
    assert scores["teacher_test_accuracy"] == scores["test_accuracy"]
    utts = decoding.predict_utterances(model, data, "test")
    assert all(u["speaker"] == u["id"].split("_")[0] for u in utts)  # the record's speaker, resampled by the PER interval
    assert scores["test_accuracy"] == pytest.approx(decoding.frame_accuracies(utts)["state_accuracy"])
    assert scores["parameters"] == model.count_params()
    assert 0.0 <= scores["test_per"] and 0.0 <= scores["dev_per"] and scores["test_accuracy_ci95"] > 0
    assert sorted(os.listdir(tmp_path / "transcripts")) == ["dev.hyp.txt", "dev.ref.txt", "test.hyp.txt", "test.ref.txt"]
    low, high = scores["test_per_ci95"]
    assert low <= scores["test_per"] <= high and scores["test_set"] == "core test"


def test_test_set_is_named_by_its_conversion(tmp_path, timit_records):
    from mimic_keras.data import writer
    from mimic_keras.report_timit import format_per, test_set_name

    assert test_set_name(timit_records) == "core test"
    full = tmp_path / "full"
    full.mkdir()
    manifest = writer.read_manifest(timit_records)
    manifest["source"]["full_test"] = True
    writer.write_manifest(str(full), manifest)
    assert test_set_name(str(full)) == "full test"
    assert format_per(0.2243, (0.19, 0.2591)) == "22.43% (19.0%–25.9%)" and format_per(0.2243) == "22.43%"
