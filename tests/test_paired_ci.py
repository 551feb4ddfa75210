"""experiments/paired_ci.py: paired differences between runs (CIFAR-10 accuracy, TIMIT PER)."""

import importlib.util
import json
import os
import shlex

import keras
import numpy as np
import pytest

from mimic_keras import config as config_lib
from mimic_keras.eval import per
from tests import helpers

_SPEC = importlib.util.spec_from_file_location(
    "paired_ci", os.path.join(os.path.dirname(__file__), "..", "experiments", "paired_ci.py"))
paired = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(paired)


def _workdir(root, preset):
    root.mkdir(parents=True)
    with open(root / "config.json", "w") as f:
        json.dump(config_lib.to_dict(config_lib.get_preset(preset)), f)
    return root


def _transcripts(workdir, stage, hyps):
    refs = [["a", "b", "c", "d"]] * 4
    ids = ["SPK1_SX1", "SPK1_SX2", "SPK2_SX1", "SPK2_SX2"]
    folder = str(workdir / "transcripts" / stage)
    per.write_transcripts(os.path.join(folder, "test.ref.txt"), ids, refs)
    per.write_transcripts(os.path.join(folder, "test.hyp.txt"), ids, hyps)


def test_timit_runs_differ_in_per_with_a_speaker_paired_interval(tmp_path, capsys):
    a = _workdir(tmp_path / "a", "timit-quick")
    b = _workdir(tmp_path / "run b", "timit-quick")  # a space: the recorded command must quote it
    _transcripts(a, "mimic", [["a", "b", "c", "d"], ["a", "b", "c", "d"], ["x", "x", "c", "d"], ["x", "x", "c", "d"]])
    _transcripts(a, "control", [["a", "b", "c", "y"], ["a", "b", "c", "y"], ["x", "x", "y", "d"], ["x", "x", "y", "d"]])
    _transcripts(b, "mimic", [["a", "b", "c", "d"]] * 4)
    measure, rows = paired.compare((str(a), "mimic"), [(str(a), "control"), (str(b), "mimic")])
    assert measure == "PER" and rows[0][1] == pytest.approx(0.25)
    _, per, diff, low, high = rows[1]
    assert per == pytest.approx(0.5) and diff == low == high == pytest.approx(0.25)  # one more error everywhere
    assert rows[2][2] == pytest.approx(-0.25) and rows[2][3] <= -0.25 <= rows[2][4]
    argv = [str(a), f"{b}:mimic", f"{a}:control", "--json", str(tmp_path / "p.json")]
    assert paired.main(argv) == 0
    out = capsys.readouterr().out
    assert "| a:mimic | 25.00% | — |" in out and "+25.00 (+25.00 to +25.00) points" in out
    stored = json.loads((tmp_path / "p.json").read_text())
    assert stored["measure"] == "PER" and shlex.split(stored["command"]) == ["python", "experiments/paired_ci.py", *argv]
    assert stored["rows"][0]["paired_ci95"] is None
    assert stored["rows"][2]["difference"] == pytest.approx(0.25) and stored["rows"][2]["paired_ci95"] == pytest.approx([0.25, 0.25])


def test_cifar_runs_differ_in_accuracy_on_the_same_images(tmp_path, capsys):
    runs = []
    for name, bias in (("a", 0.0), ("b", 5.0)):
        workdir = _workdir(tmp_path / name, "cifar10-quick")
        helpers.write_image_dir(str(workdir / "data"), {"test": 40})
        inputs = keras.Input((32, 32, 3))
        logits = keras.layers.Dense(10, bias_initializer=keras.initializers.Constant([bias] + [0.0] * 9))(
            keras.layers.GlobalAveragePooling2D()(inputs))
        (workdir / "mimic").mkdir()
        keras.Model(inputs, logits).save(str(workdir / "mimic" / "model.keras"))
        runs.append(str(workdir))
    measure, rows = paired.compare((runs[0], "mimic"), [(runs[1], "mimic")])
    ids, correct_b = paired._cifar_correct(runs[1], "mimic")
    _, correct_a = paired._cifar_correct(runs[0], "mimic")
    assert measure == "test accuracy" and len(ids) == 40
    assert rows[1][1] == pytest.approx(np.mean(correct_b))  # b always says class 0
    assert rows[1][2] == pytest.approx(np.mean(correct_b) - np.mean(correct_a))
    assert rows[1][3] <= rows[1][2] <= rows[1][4]
    timit = _workdir(tmp_path / "t", "timit-quick")
    assert paired.main([runs[0], str(timit)]) == 2
    assert "different datasets" in capsys.readouterr().err
