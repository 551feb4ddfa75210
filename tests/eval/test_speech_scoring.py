"""TIMIT scoring (`mimic_keras.eval.speech_scoring`): per-student scores (mimic_sweep's TIMIT rows), the report table."""

import os

import keras
import pytest

from mimic_keras.eval import outcomes, utterances
from mimic_keras.eval.per import read_scored
from mimic_keras.eval.speech_scoring import SpeechScorer, student_scores, transcript_files


def test_student_scores_of_the_teacher_itself(timit_perturbed_labelled, tmp_path):
    data, transfer, teacher = timit_perturbed_labelled
    model = keras.saving.load_model(teacher, compile=False)
    scores = student_scores(model, data, transfer, 7, str(tmp_path / "transcripts"))
    assert scores["test_agreement"] == 1.0
    assert scores["val_l2_to_teacher"] == pytest.approx(0.0, abs=1e-6)
    assert scores["test_l2_to_teacher"] == pytest.approx(0.0, abs=1e-6)
    assert scores["teacher_test_accuracy"] == scores["test_accuracy"]
    utts = utterances.predict_utterances(model, data, "test")
    assert all(u["speaker"] == u["id"].split("_")[0] for u in utts)  # the record's speaker, resampled by the PER interval
    assert scores["test_accuracy"] == pytest.approx(utterances.frame_accuracies(utts)["state_accuracy"])
    assert scores["parameters"] == model.count_params()
    assert 0.0 <= scores["test_per"] and 0.0 <= scores["dev_per"] and scores["test_accuracy_ci95"] > 0
    assert sorted(os.listdir(tmp_path / "transcripts")) == ["dev.hyp.txt", "dev.ref.txt", "test.hyp.txt", "test.ref.txt"]
    assert sorted(transcript_files(str(tmp_path / "transcripts"))) == sorted(  # what a sweep's cache checks
        str(tmp_path / "transcripts" / name) for name in os.listdir(tmp_path / "transcripts"))
    low, high = scores["test_per_ci95"]
    assert low <= scores["test_per"] <= high and scores["test_set"] == "core test"
    # paired_ci.py's per-speaker totals, kept in the row: the same as from the transcripts it reads.
    assert scores["test_speaker_totals"] == outcomes.speaker_record(*read_scored(str(tmp_path / "transcripts")))
    errors, phones = (sum(map(int, scores["test_speaker_totals"][key].split())) for key in ("errors", "phones"))
    assert errors / phones == pytest.approx(scores["test_per"])


def test_test_set_is_named_by_its_conversion(tmp_path, timit_records):
    from mimic_keras.data import writer
    from mimic_keras.eval.speech_scoring import format_per, test_set_name

    assert test_set_name(timit_records) == "core test"
    full = tmp_path / "full"
    full.mkdir()
    manifest = writer.read_manifest(timit_records)
    manifest["source"]["full_test"] = True
    writer.write_manifest(str(full), manifest)
    assert test_set_name(str(full)) == "full test"
    assert format_per(0.2243, (0.19, 0.2591)) == "22.43% (19.0%–25.9%)" and format_per(0.2243) == "22.43%"


def test_table_1_reads_the_unified_key_and_the_older_one():
    row = {"model": "mimic", "kind": "shallow", "parameters": 1234, "hidden_units": 32, "epochs": 3, "best_epoch": 2,
           "teacher_agreement": 0.75, "dev": {"per": 0.3},
           "test": {"state_accuracy": 0.5, "phone_accuracy": 0.6, "per": 0.25, "per_ci95": [0.2, 0.3]}}
    report = {"name": "x", "test_set": "core test", "transfer_examples": 900, "models": [row],
              "splits": {"dev": {"utterances": 4, "frames": 400}, "test": {"utterances": 5, "frames": 500}}}
    table = SpeechScorer.markdown_table(report)
    assert "core test 5 / 500, transfer set 900 frames" in table
    assert "| mimic | shallow | 1,234 | 32 | 3 (best 2) | 50.00% | 60.00% | 30.00% | 25.00% (20.0%–30.0%) | 75.00% |" in table
    old = {**{k: v for k, v in report.items() if k != "transfer_examples"}, "transfer_frames": 900}
    assert SpeechScorer.markdown_table(old) == table
    stopped = {**report, "models": [{**row, "stopped_early": True}]}
    assert "| 3 (best 2, stopped early) |" in SpeechScorer.markdown_table(stopped)
