import json
import math
import os
import shutil
import sys

import keras
import pytest
import tensorflow as tf

from mimic_keras import config, fit, tune
from tests.helpers import TINY, image_tree

# 2 epochs: Hyperband's first bracket is then 2 trials of 2 epochs, what --max-trials 2 runs.
TUNE_TINY = [*TINY, "teacher.num_teachers=1", "mimic_train.epochs=2"]
SPACE = ["--bottleneck", "0,8", "--hidden", "16,32,4096", "--conv-filters", "4"]
# With 4 conv filters (16x16x4 = 1024 features) this fits k=8 with H=16 or 32 (8,810 and 9,114
# parameters) and k=0 with H=16 (16,874), but not k=0 with H=32 (33,434) nor any H=4096.
BUDGET = 20_000


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A run folder whose prepare, teacher and label stages are done, and its CLI arguments."""
    root = tmp_path_factory.mktemp("tune")
    source = image_tree(str(root / "images"))
    workdir = str(root / "run")
    args = ["--preset", "cifar10-quick", "--workdir", workdir, f"data.source={source}", *TUNE_TINY]
    for stage in ("prepare", "teacher", "label"):
        assert fit.main([stage, *args]) == 0
    return workdir, args


def _results(workdir):
    with open(os.path.join(workdir, "tune", "trials.json")) as f:
        return json.load(f)


def test_search_trains_only_within_budget_and_writes_a_usable_preset(labelled, monkeypatch, tmp_path):
    workdir, args = labelled
    built, student = [], tune.hypermodel.MimicHyperModel._student

    def spy(self, cfg):  # each trial's student, as the task builds it
        model = student(self, cfg)
        built.append(model.count_params())
        return model

    monkeypatch.setattr(tune.hypermodel.MimicHyperModel, "_student", spy)
    search = [*args, "--max-trials", "2", "--budget-params", str(BUDGET), *SPACE]
    assert tune.main([*search, "--overwrite"]) == 0

    results = _results(workdir)
    trials = results["trials"]
    assert [t["status"] for t in trials] == ["COMPLETED", "COMPLETED"]
    assert built and max(built) <= BUDGET  # nothing over budget was even built
    assert {t["params"] for t in trials} <= set(built)  # the table's counts are the models'
    for t in trials:
        assert t["params"] <= BUDGET and t["epochs"] == 2
        assert math.isfinite(t["val_loss"]) and 0.0 <= t["val_accuracy"] <= 1.0
        logs = os.path.join(workdir, "tune", f"trial_{t['trial']}", "logs", "validation")
        assert any(name.startswith("events.out.tfevents") for name in os.listdir(logs))
    assert results["skipped"] and all(s["params"] > BUDGET for s in results["skipped"])
    table = open(os.path.join(workdir, "tune", "trials.md")).read()
    assert "| SKIPPED |" in table and table.count("| COMPLETED |") == 2

    best = min(trials, key=lambda t: t["val_loss"])
    assert results["best"] == best
    preset_path = os.path.join(workdir, "tune", "best_preset.json")
    preset = config.get_preset(preset_path)
    assert (preset.mimic.bottleneck, preset.mimic.hidden, preset.mimic.conv_filters) == (
        best["bottleneck"], best["hidden"], best["conv_filters"])
    assert preset.mimic_train.learning_rate == pytest.approx(best["learning_rate"])
    assert preset.mimic_train.schedule == best["schedule"]
    assert preset.mimic_train.epochs == 2 and preset.teacher.num_teachers == 1  # the rest is the run's

    # Rerunning resumes the finished search (nothing new runs); another space needs --overwrite.
    built.clear()
    assert tune.main(search) == 0
    assert _results(workdir)["trials"] == trials and all(p <= BUDGET for p in built)
    assert tune.main([*args, "--max-trials", "2", "--hidden", "16"]) == 2

    # fit accepts the preset on (a copy of) the workdir and trains the chosen mimic.
    copy = str(tmp_path / "run")
    shutil.copytree(workdir, copy)
    assert fit.main(["mimic", "--force", "--preset", preset_path, "--workdir", copy]) == 0
    mimic = keras.saving.load_model(os.path.join(copy, "mimic", "model.keras"))
    assert mimic.count_params() == best["params"]


def test_a_failing_trial_is_reported_and_the_search_goes_on(labelled, monkeypatch, capsys):
    workdir, args = labelled
    fit_trial = tune.MimicHyperModel.fit
    calls = []

    def flaky(self, hp, model, *a, **k):
        calls.append(hp.values)
        if len(calls) == 1:
            raise RuntimeError("boom: the first trial blew up")
        return fit_trial(self, hp, model, *a, **k)

    monkeypatch.setattr(tune.MimicHyperModel, "fit", flaky)
    assert tune.main([*args, "--tuner", "random", "--max-trials", "2", "--overwrite", *SPACE]) == 0

    trials = _results(workdir)["trials"]
    assert [t["status"] for t in trials] == ["FAILED", "COMPLETED"]
    assert trials[0]["error"] == "RuntimeError: boom: the first trial blew up" and trials[0]["val_loss"] is None
    assert _results(workdir)["best"]["trial"] == trials[1]["trial"]
    assert "1 of 2 trials failed" in capsys.readouterr().err
    assert "| FAILED |" in open(os.path.join(workdir, "tune", "trials.md")).read()


def test_a_search_whose_trials_all_fail_is_a_loud_error(labelled, monkeypatch, capsys):
    workdir, args = labelled
    # TensorBoard's HParams plugin missing: keras-tuner fails each trial and would carry on.
    monkeypatch.setitem(sys.modules, "tensorboard.plugins.hparams", None)
    assert tune.main([*args, "--tuner", "random", "--max-trials", "3", "--overwrite", *SPACE]) == 1

    err = capsys.readouterr().err
    assert "all 3 trials failed" in err
    for trial in range(3):  # each trial's error is listed
        assert f"trial {trial}: FAILED: ModuleNotFoundError: import of tensorboard.plugins.hparams halted" in err
    assert [t["status"] for t in _results(workdir)["trials"]] == ["FAILED"] * 3
    assert not os.path.exists(os.path.join(workdir, "tune", "best_preset.json"))


def test_trials_build_under_the_runs_strategy(labelled, monkeypatch):
    workdir, args = labelled
    strategies, student = [], tune.hypermodel.MimicHyperModel._student

    def spy(self, cfg):
        strategies.append(tf.distribute.get_strategy())
        return student(self, cfg)

    monkeypatch.setattr(tune.hypermodel.MimicHyperModel, "_student", spy)
    search = [*args, "strategy=mirrored", "mimic_train.epochs=1", "--tuner", "random", "--max-trials", "1"]
    assert tune.main([*search, "--overwrite", *SPACE]) == 0
    assert isinstance(strategies[-1], tf.distribute.MirroredStrategy)  # the trial's (the first is a dry build)
    assert [t["status"] for t in _results(workdir)["trials"]] == ["COMPLETED"]


def test_no_candidate_within_budget_is_a_clean_error(labelled, capsys):
    _, args = labelled
    assert tune.main([*args, "--max-trials", "2", "--budget-params", "1000", *SPACE]) == 2
    assert "no candidate in the search space fits the budget of 1,000 parameters (the smallest has 8,810)" in (
        capsys.readouterr().err)


def test_an_unlabelled_workdir_names_the_stages_to_run(tmp_path, capsys):
    assert tune.main(["--preset", "cifar10-quick", "--workdir", str(tmp_path), "--max-trials", "2"]) == 2
    err = capsys.readouterr().err
    for stage in ("prepare", "teacher", "label"):
        assert f"python -m mimic_keras.fit {stage} --preset cifar10-quick --workdir {tmp_path}" in err


def test_tune_right_after_fit_uses_the_workdirs_config(labelled, capsys):
    """The README's order: `fit all --preset P data.source=...`, then `tune --preset P` with no overrides."""
    workdir, _ = labelled
    with open(os.path.join(workdir, "config.json")) as f:
        before = f.read()
    assert tune.main(["--preset", "cifar10-quick", "--workdir", workdir, "--max-trials", "1", "--overwrite",
                      *SPACE]) == 0
    assert "no labelled transfer set" not in capsys.readouterr().err
    with open(os.path.join(workdir, "config.json")) as f:
        assert f.read() == before  # tune reads the run's config; it never rewrites it
