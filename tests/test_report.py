import numpy as np
import pytest

from mimic_keras.report import accuracy_ci95, markdown_table


def test_accuracy_ci95_is_the_binomial_normal_interval():
    correct = np.array([True] * 50 + [False] * 50)
    assert accuracy_ci95(correct) == pytest.approx(1.96 * 0.05)
    assert accuracy_ci95(np.ones(10, bool)) == 0.0


def test_markdown_table_rows():
    report = {"name": "x", "test_examples": 100, "transfer_examples": 200, "models": [
        {"model": "mimic", "parameters": 1234, "epochs": 3, "test_accuracy": 0.5, "test_accuracy_ci95": 0.098,
         "val_loss": 0.25, "teacher_agreement": 0.75},
        {"model": "teacher_0", "parameters": 99, "test_accuracy": 0.8, "test_accuracy_ci95": 0.01, "val_loss": 1.0},
    ]}
    table = markdown_table(report)
    assert "| mimic | 1,234 | 3 | 50.00% ± 9.80% | 0.2500 | 75.00% |" in table
    assert "| teacher_0 | 99 | — | 80.00% ± 1.00% | 1.0000 | — |" in table
