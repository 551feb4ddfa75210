"""experiments/score_checkpoints.py: the checkpoints a run kept, scored as its sweep row scores the final model."""

import importlib.util
import json
import os
import shutil
import sys

import pytest

from mimic_keras import plots, training

_DIR = os.path.join(os.path.dirname(__file__), "..", "experiments")
sys.path.insert(0, _DIR)
_SPEC = importlib.util.spec_from_file_location("score_checkpoints", os.path.join(_DIR, "score_checkpoints.py"))
score = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(score)
import mimic_sweep as sweep  # noqa: E402


def test_checkpoints_are_found_by_epoch_number(tmp_path):
    for name in ("epoch_10.keras", "epoch_2.keras", "model.keras", "epoch_x.keras", "log.csv"):
        (tmp_path / name).touch()
    assert [e for e, _ in score.checkpoints(str(tmp_path))] == [2, 10]  # numeric order, nothing else


def test_each_kept_epoch_is_scored_beside_its_logged_validation_accuracy(tiny_run, tmp_path, capsys):
    base = str(tmp_path / "base")
    shutil.copytree(tiny_run[0], base)
    row = sweep.run_variant(base, "c", "kept", ["mimic_train.save_epochs=(1,3)", "mimic_train.checkpoint=best"], [])
    workdir = f"{base}-c-kept"
    out = str(tmp_path / "epochs.json")
    assert score.main([workdir, "--json", out]) == 0
    with open(out) as f:
        written = json.load(f)
    rows = written["rows"]
    assert plots.kind_of(written) == "checkpoints"  # `python -m mimic_keras.plots docs/experiments/*.json` skips it
    # the snapshots, the kept (best validation loss) model, and the last epoch's beside it
    # (TINY trains the mimic 3 epochs)
    assert [(r["epoch"], r["file"]) for r in rows] == [(1, "epoch_1.keras"), (3, "epoch_3.keras"), (None, "model.keras"),
                                                      (3, "last.keras")]
    logged = training.read_csv_log(os.path.join(workdir, "mimic", "log.csv"))["val_accuracy"]
    assert [r["val_accuracy"] for r in rows[:2]] == pytest.approx([logged[0], logged[2]])
    assert rows[2]["test_accuracy"] == pytest.approx(row["test_accuracy"])  # the final model: the sweep row's score
    assert rows[3]["test_accuracy"] == pytest.approx(rows[1]["test_accuracy"])  # last.keras is epoch 3's
    assert os.path.isdir(os.path.join(workdir, "mimic")) and "| kept model |" in capsys.readouterr().out
    # A run not finished yet (no final model): the checkpoints it has kept so far.
    for name in ("model.keras", "last.keras"):
        os.remove(os.path.join(workdir, "mimic", name))
    assert [r["epoch"] for r in score.score_checkpoints(workdir)] == [1, 3]


def test_a_missing_stage_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        score.main([str(tmp_path), "--stage", "control"])
