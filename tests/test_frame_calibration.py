"""experiments/frame_calibration.py: finished runs' accuracy beside their softmaxes' calibration."""

import dataclasses
import importlib.util
import json
import os
import shutil
import sys

import numpy as np
import pytest

from mimic_keras import config as config_lib
from mimic_keras import plots
from mimic_keras.atomic import write_json_atomic
from mimic_keras.data import writer
from mimic_keras.layout import Layout

_DIR = os.path.join(os.path.dirname(__file__), "..", "experiments")
sys.path.insert(0, _DIR)
_SPEC = importlib.util.spec_from_file_location("frame_calibration", os.path.join(_DIR, "frame_calibration.py"))
calib = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(calib)


def test_image_runs_are_scored_on_their_test_images(tiny_run, tmp_path, capsys):
    import keras

    from mimic_keras.eval.image_scoring import correct_on_test

    workdir = tiny_run[0]
    out = str(tmp_path / "calibration.json")
    assert calib.main([workdir, f"{workdir}:control", "--json", out]) == 0
    with open(out) as f:
        written = json.load(f)
    assert plots.kind_of(written) == "calibration"  # `python -m mimic_keras.plots docs/experiments/*.json` skips it
    mimic, control = written["rows"]
    assert (mimic["stage"], control["stage"]) == ("mimic", "control")
    layout = Layout(workdir)
    _, correct = correct_on_test(keras.saving.load_model(layout.model("mimic"), compile=False), layout.data)
    assert mimic["accuracy"] == pytest.approx(np.mean(correct)) and mimic["examples"] == len(correct)
    assert all(r["nll"] > 0 and 0 <= r["ece"] <= 1 and r["kl_to_teacher"] >= 0 for r in (mimic, control))
    assert "| run:control |" in capsys.readouterr().out


def test_a_timit_teacher_scored_as_a_student_is_its_own_transfer_logits(timit_perturbed_labelled, tmp_path):
    """The frames and the teacher's logits are aligned utterance by utterance: the teacher's KL to itself is 0."""
    from mimic_keras.data import timit

    data, transfer, teacher = timit_perturbed_labelled
    cfg = config_lib.get_preset("timit-quick")
    cfg.data = dataclasses.replace(cfg.data, source=writer.read_manifest(data)["source"]["root"])
    layout = Layout(str(tmp_path / "run"))
    os.makedirs(os.path.dirname(layout.model("mimic")))
    os.symlink(data, layout.data)
    os.symlink(transfer, layout.transfer)
    write_json_atomic(layout.config, config_lib.to_dict(cfg))
    shutil.copy(teacher, layout.model("mimic"))
    row = calib.calibration_row(layout.workdir, split="dev")
    assert row["kl_to_teacher"] == pytest.approx(0.0, abs=1e-4)
    assert row["l2_to_teacher"] == pytest.approx(0.0, abs=1e-3) and row["spread"] == pytest.approx(row["teacher_spread"], rel=1e-4)
    assert row["examples"] == timit.num_frames(data, "dev")


def test_runs_of_two_datasets_are_refused(tiny_run, tmp_path, capsys):
    other = tmp_path / "t"
    other.mkdir()
    write_json_atomic(str(other / "config.json"), config_lib.to_dict(config_lib.get_preset("timit-quick")))
    assert calib.main([tiny_run[0], str(other)]) == 2
    assert "different datasets" in capsys.readouterr().err
