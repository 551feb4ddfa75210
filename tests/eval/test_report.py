"""The report loop over model roles (`mimic_keras.eval.report`), with a stand-in scorer."""

import json
import os

import keras
import numpy as np

from mimic_keras import config as config_lib
from mimic_keras.eval import report as report_lib


class _Scorer:
    """Scores a model by the constant it outputs; records what the loop asked for."""

    def __init__(self):
        self.calls = []

    def summary(self):
        return {"test_examples": 3}

    def predict(self, model):
        return float(model.predict(np.zeros((1, 1)), verbose=0)[0, 0])

    def ensemble(self, members):
        return float(np.mean(members))

    def columns(self, name, model, outputs, teacher=None):
        self.calls.append((name, teacher))
        return {"parameters": model.count_params(), "output": outputs}

    def ensemble_columns(self, teacher_rows, outputs):
        return {"parameters": sum(r["parameters"] for r in teacher_rows), "output": outputs}

    def teacher_columns(self, outputs, reference):
        return {"teacher_gap": outputs - reference}

    @staticmethod
    def markdown_table(report):
        return "| table |\n"


def _model(folder, value, history=None):
    os.makedirs(folder, exist_ok=True)
    inputs = keras.Input((1,))
    layer = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(value))
    keras.Model(inputs, layer(inputs)).save(os.path.join(folder, "model.keras"))
    if history:
        with open(os.path.join(folder, "history.json"), "w") as f:
            json.dump(history, f)
    return os.path.join(folder, "model.keras")


def test_every_role_is_scored_once_and_students_against_the_ensemble(tmp_path):
    cfg = config_lib.get_preset("cifar10-quick")
    cfg.mimic_train.checkpoint, cfg.control_train.checkpoint = "best", "best_accuracy"
    history = {"epoch": [1, 2, 3], "val_loss": [3.0, 1.0, 2.0], "val_accuracy": [0.1, 0.2, 0.4]}
    dirs = {"teacher_0": _model(tmp_path / "t0", 1.0), "teacher_1": _model(tmp_path / "t1", 3.0),
            "mimic": _model(tmp_path / "m", 2.5, history), "control": _model(tmp_path / "c", 0.0, history)}
    scorer = _Scorer()
    report = report_lib.evaluate(cfg, scorer, {k: str(v) for k, v in dirs.items()}, transfer_examples=7)
    assert list(report) == ["name", "test_examples", "transfer_examples", "checkpoint", "models", "objectives",
                            "histories"]
    assert scorer.calls == [("teacher_0", 0), ("teacher_1", 1), ("mimic", None), ("control", None)]
    rows = {r["model"]: r for r in report["models"]}
    assert list(rows) == ["teacher_0", "teacher_1", "ensemble", "mimic", "control"]
    assert rows["ensemble"]["parameters"] == 4 and rows["ensemble"]["output"] == 2.0
    assert rows["mimic"]["teacher_gap"] == 0.5 and rows["control"]["teacher_gap"] == -2.0
    assert rows["mimic"]["epochs"] == 3 and rows["mimic"]["best_epoch"] == 2  # the lowest validation loss
    assert rows["control"]["best_epoch"] == 3  # the highest validation accuracy
    assert "epochs" not in rows["teacher_0"]
    assert set(report["histories"]) == {"mimic", "control"} and report["transfer_examples"] == 7
    written = report_lib.write_report(report, scorer.markdown_table(report), str(tmp_path))
    assert written is report and (tmp_path / "report.md").read_text() == "| table |\n"
    assert (tmp_path / "curves.png").exists()


def test_one_teacher_has_no_ensemble_row(tmp_path):
    cfg = config_lib.get_preset("cifar10-quick")
    history = {"epoch": [1, 2], "val_loss": [3.0, 1.0]}
    dirs = {"teacher_0": _model(tmp_path / "t0", 1.0), "mimic": _model(tmp_path / "m", 1.5),
            "control": _model(tmp_path / "c", 0.5, history)}
    report = report_lib.evaluate(cfg, _Scorer(), {k: str(v) for k, v in dirs.items()}, transfer_examples=7)
    assert [r["model"] for r in report["models"]] == ["teacher_0", "mimic", "control"]
    assert report["models"][2]["epochs"] == 2 and "best_epoch" not in report["models"][2]  # checkpoint=last
    assert report["models"][1]["teacher_gap"] == 0.5


def test_a_run_that_stopped_early_says_so_in_its_row(tmp_path):
    cfg = config_lib.get_preset("cifar10-quick")
    cfg.control_train.checkpoint = "best"
    stopped = {"epoch": [1, 2, 3], "val_loss": [3.0, 1.0, 2.0],
               "early_stop": {"monitor": "val_loss", "patience": 1, "stopped_epoch": 3}}
    ran_all = {**stopped, "early_stop": {**stopped["early_stop"], "stopped_epoch": None}}
    dirs = {"teacher_0": _model(tmp_path / "t0", 1.0), "mimic": _model(tmp_path / "m", 1.5, ran_all),
            "control": _model(tmp_path / "c", 0.5, stopped)}
    report = report_lib.evaluate(cfg, _Scorer(), {k: str(v) for k, v in dirs.items()}, transfer_examples=7)
    rows = {r["model"]: r for r in report["models"]}
    assert rows["control"]["stopped_early"] and rows["control"]["best_epoch"] == 2
    assert "stopped_early" not in rows["mimic"]


def test_the_mimics_objective_names_its_label_smoothing_when_it_has_a_label_term():
    cfg = config_lib.get_preset("cifar10-quick")
    cfg.mimic_train.label_smoothing = 0.1
    assert report_lib.objectives(cfg)["mimic"] == "L2 on teacher logits"  # alpha = 1: no label term to smooth
    cfg.distill.alpha = 0.5
    assert report_lib.objectives(cfg)["mimic"] == "0.5 × L2 on teacher logits + 0.5 × label CE, label smoothing 0.1"
