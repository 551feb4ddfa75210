"""experiments/mimic_sweep.py's TIMIT path: rows scored by mimic_keras.eval, PER columns in the table."""

import importlib.util
import json
import os

import keras
import pytest

from mimic_keras import config as config_lib

_SPEC = importlib.util.spec_from_file_location(
    "mimic_sweep", os.path.join(os.path.dirname(__file__), "..", "experiments", "mimic_sweep.py"))
sweep = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sweep)


def test_timit_variant_is_scored_against_its_teacher(timit_perturbed_labelled, tmp_path):
    data, transfer, teacher = timit_perturbed_labelled
    workdir = tmp_path / "run"
    (workdir / "mimic").mkdir(parents=True)
    with open(workdir / "config.json", "w") as f:
        json.dump(config_lib.to_dict(config_lib.get_preset("timit-quick")), f)
    os.symlink(data, workdir / "data")
    os.symlink(transfer, workdir / "transfer")
    keras.saving.load_model(teacher, compile=False).save(workdir / "mimic" / "model.keras")
    row = sweep._evaluate(str(workdir), "mimic")
    assert row["test_agreement"] == 1.0 and row["teacher_test_accuracy"] == row["test_accuracy"]
    assert {"test_per", "dev_per", "test_accuracy_ci95", "val_l2_to_teacher"} <= set(row)
    assert (workdir / "transcripts" / "mimic" / "test.hyp.txt").exists()
    # The transfer set the variant's config selects: training frames + every speed-perturbed copy.
    from mimic_keras.data import timit

    cfg = config_lib.get_preset(str(workdir / "config.json"))
    assert sweep._transfer_examples(cfg, str(workdir)) == timit.num_frames(data, ("train", "unlabelled")) > \
        timit.num_frames(data, "train")


def test_timit_rows_get_per_columns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    curve = {"seconds": [10.0, 20.0], "loss": [2.0, 1.0], "val_loss": [2.5, 1.5], "val_accuracy": [0.3, 0.4]}
    row = {"variant": "sp_all", "stage": "mimic", "overrides": "data.transfer_perturb=None", "epochs": 2,
           "wall_seconds": 20.0, "curve": curve, "parameters": 1000, "test_accuracy": 0.5, "test_accuracy_ci95": 0.02,
           "teacher_test_accuracy": 0.6, "val_l2_to_teacher": 3.0, "test_agreement": 0.7, "dev_per": 0.25,
           "test_per": 0.275}
    sweep.write_outputs("grow", [row], [], "runs/timit-grow")
    table = (tmp_path / "docs" / "experiments" / "grow.md").read_text()
    assert "PER core test" in table and "| 25.00% | 27.50% |" in table
    full = {**row, "test_per_ci95": [0.2, 0.31], "test_set": "full test"}
    sweep.write_outputs("full", [full], [], "runs/timit-full")
    table = (tmp_path / "docs" / "experiments" / "full.md").read_text()
    assert "PER full test (95% interval)" in table and "| 25.00% | 27.50% (20.0%–31.0%) |" in table
    assert "state frame accuracy on the full test" in table
    cifar = {k: v for k, v in row.items() if k not in ("dev_per", "test_per")}
    sweep.write_outputs("images", [cifar], [], "runs/cifar10-cpu")
    assert "PER" not in (tmp_path / "docs" / "experiments" / "images.md").read_text()


def test_merge_sweeps_copies_the_named_rows(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(
        "merge_sweeps", os.path.join(os.path.dirname(__file__), "..", "experiments", "merge_sweeps.py"))
    merge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(merge)
    monkeypatch.chdir(tmp_path)
    curve = {"seconds": [10.0, 20.0], "loss": [2.0, 1.0], "val_loss": [2.5, 1.5], "val_accuracy": [0.3, 0.4]}

    def row(variant, stage):
        return {"variant": variant, "stage": stage, "overrides": "", "epochs": 2, "wall_seconds": 20.0,
                "curve": curve, "parameters": 1000, "test_accuracy": 0.5, "test_accuracy_ci95": 0.02,
                "teacher_test_accuracy": 0.6, "val_l2_to_teacher": 3.0, "test_agreement": 0.7}

    for name, rows in (("a", [row("m1", "mimic"), row("m2", "mimic")]), ("b", [row("c1", "control")])):
        with open(tmp_path / f"{name}.json", "w") as f:
            json.dump({"base": f"runs/{name}", "common": [], "rows": rows}, f)
    assert merge.main(["--name", "both", "--row", "a.json:m2", "--row", "b.json:c1=control"]) == 0
    with open(tmp_path / "docs" / "experiments" / "both.json") as f:
        merged = json.load(f)
    assert [(r["variant"], r["stage"]) for r in merged["rows"]] == [("m2", "mimic"), ("control", "control")]
    assert merged["base"] == "runs/a, runs/b"
    assert merge.main(["--name", "x", "--row", "a.json:nope"]) == 2
    assert "no variant 'nope'" in capsys.readouterr().err


def test_sweeps_are_data():
    path = os.path.join(os.path.dirname(__file__), "..", "experiments", "sweeps", "losses.json")
    losses = sweep.load_sweep(path)
    assert losses["variants"]["kd"] == ["distill.loss=kd", "distill.temperature=4"] and losses["stage"] == "mimic"
    with pytest.raises(ValueError, match="variants must be an object"):
        sweep.load_sweep({"name": "x", "base": "b", "variants": ["kd"]})
    with pytest.raises(ValueError, match="lacks base"):
        sweep.load_sweep({"name": "x", "variants": {}})


def test_a_variant_trains_on_the_base_runs_recorded_stages(tiny_run, tmp_path):
    """A variant's workdir links the base run's data, teachers and transfer set, with their stage records."""
    import shutil

    base = str(tmp_path / "base")
    shutil.copytree(tiny_run[0], base)
    row = sweep.run_variant(base, "w", "narrow", ["mimic.hidden=8"], [])
    assert row["variant"] == "narrow" and row["parameters"] > 0 and row["epochs"] == 3
    with open(os.path.join(f"{base}-w-narrow", "config.json")) as f:
        assert json.load(f)["mimic"]["hidden"] == 8
