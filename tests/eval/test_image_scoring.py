"""CIFAR-10 scoring (`mimic_keras.eval.image_scoring`): report columns, sweep rows, the report table."""

import keras
import numpy as np
import pytest

from mimic_keras.eval import image_scoring, outcomes
from mimic_keras.eval.image_scoring import ImageScorer
from mimic_keras.eval.stats import accuracy_ci95
from pipelines import label_with_teacher
from tests import helpers


def test_markdown_table_rows():
    report = {"name": "x", "test_examples": 100, "transfer_examples": 200, "models": [
        {"model": "mimic", "parameters": 1234, "epochs": 3, "test_accuracy": 0.5, "test_accuracy_ci95": 0.098,
         "val_loss": 0.25, "teacher_agreement": 0.75},
        {"model": "teacher_0", "parameters": 99, "test_accuracy": 0.8, "test_accuracy_ci95": 0.01, "val_loss": 1.0},
    ]}
    table = ImageScorer.markdown_table(report)
    assert "| mimic | 1,234 | 3 | 50.00% ± 9.80% | 0.2500 | 75.00% |" in table
    assert "| teacher_0 | 99 | — | 80.00% ± 1.00% | 1.0000 | — |" in table


def _teacher(path, bias):
    inputs = keras.Input((32, 32, 3))
    logits = keras.layers.Dense(10, bias_initializer=keras.initializers.Constant(bias))(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs)))
    keras.Model(inputs, logits).save(path)
    return path


def test_student_scores_of_the_teacher_itself(tmp_path):
    data, transfer = str(tmp_path / "data"), str(tmp_path / "transfer")
    helpers.write_image_dir(data, {"train": 8, "validation": 12, "test": 20})
    teacher = _teacher(str(tmp_path / "teacher.keras"), np.linspace(0.0, 1.0, 10))
    label_with_teacher.label(data, [teacher], transfer, splits=["validation", "test"])
    model = keras.saving.load_model(teacher, compile=False)
    scores = image_scoring.student_scores(model, data, transfer, 10)
    assert scores["test_agreement"] == 1.0 and scores["teacher_test_accuracy"] == scores["test_accuracy"]
    assert scores["val_l2_to_teacher"] == pytest.approx(0.0, abs=1e-6)
    assert scores["parameters"] == model.count_params()
    ids, correct = image_scoring.correct_on_test(model, data)
    assert len(ids) == 20 and scores["test_accuracy"] == pytest.approx(np.mean(correct))
    assert scores["test_accuracy_ci95"] == pytest.approx(accuracy_ci95(correct))
    assert scores["test_correct"] == outcomes.pack_correct(ids, correct)  # paired_ci.py's outcomes, kept in the row
