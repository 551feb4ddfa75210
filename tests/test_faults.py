"""Faults: a SIGKILLed mimic run resumes with the same command; bad inputs are refused before training.

Also covered elsewhere: a NaN loss stops with the stage and step and keeps the good model
(tests/test_fit.py::test_nan_loss_stops_with_a_clear_error_and_keeps_good_outputs); an online
teacher whose output shape differs from the student's is refused
(tests/test_distiller.py::test_refuses_a_teacher_with_another_output_shape).

Run as a script (`python -m tests.test_faults FIT_ARGS...`) this module is the fit CLI with a
test hook: with `MIMIC_TEST_HANG_AT=EPOCH:STEP` and `MIMIC_TEST_HANG_MARKER=PATH`, training
writes PATH when it reaches that step and sleeps there, so the test kills it at a known point.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import pytest

from mimic_keras import config as config_lib
from mimic_keras import fit, stages, training
from mimic_keras.config import TeacherConfig
from mimic_keras.layout import Layout
from mimic_keras.models.convnet import build_teacher
from tests.helpers import write_image_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_TEACHER = TeacherConfig(conv_filters=(8,), dense_units=(16,))
MIMIC_ARGS = [
    "teacher.conv_filters=(8,)", "teacher.dense_units=(16,)",
    "mimic.conv_filters=4", "mimic.bottleneck=8", "mimic.hidden=32",
    "mimic_train.batch_size=16", "mimic_train.epochs=4", "mimic_train.learning_rate=3e-3",
]


def build_mimic_workdir(workdir, n_train=128, shards=2, seed=0):
    """A workdir ready for the `mimic` stage: toy image records, one teacher, its transfer set.

    The transfer set is written by the real labelling job (`pipelines.label_with_teacher`).
    """
    from pipelines.label_with_teacher import label

    data = os.path.join(workdir, "data")
    write_image_dir(data, {"train": n_train, "validation": 32, "test": 16}, seed=seed)
    teacher_path = os.path.join(workdir, "teacher", "teacher_0", "model.keras")
    os.makedirs(os.path.dirname(teacher_path))
    keras.utils.set_random_seed(seed)
    build_teacher(TINY_TEACHER, name="teacher_0").save(teacher_path)
    label(data, [teacher_path], os.path.join(workdir, "transfer"), splits=["train", "validation"], shards=shards)
    # Made outside `fit`, for the config the mimic command runs with: recorded as such.
    for stage in ("prepare", "teacher", "label"):
        stages.record(stage, mimic_config(), Layout(workdir))
    return workdir


def mimic_config(*overrides):
    """The config `mimic_command` runs with."""
    return config_lib.apply_overrides(config_lib.get_preset("cifar10-quick"), [*MIMIC_ARGS, *overrides])


def mimic_command(workdir, *overrides):
    return ["mimic", "--preset", "cifar10-quick", "--workdir", workdir, *MIMIC_ARGS, *overrides]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return build_mimic_workdir(str(tmp_path_factory.mktemp("faults") / "run"))


def _copy(prepared, tmp_path):
    workdir = str(tmp_path / "run")
    shutil.copytree(prepared, workdir)
    return workdir


def _epochs_started(output):
    return [int(line.split()[1].split("/")[0]) for line in output.splitlines() if line.startswith("Epoch ")]


def test_sigkill_mid_epoch_then_same_command_resumes(prepared, tmp_path):
    workdir = _copy(prepared, tmp_path)
    command = [sys.executable, "-m", "tests.test_faults", *mimic_command(workdir)]
    marker = str(tmp_path / "hanging")
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2",
           "MIMIC_TEST_HANG_AT": "3:2", "MIMIC_TEST_HANG_MARKER": marker}
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        assert os.path.exists(marker), (tmp_path / "first.log").read_text()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)  # in epoch 3, after its first step
        assert proc.wait(30) == -signal.SIGKILL
    mimic = os.path.join(workdir, "mimic")
    assert not os.path.exists(os.path.join(mimic, "model.keras"))
    with open(os.path.join(mimic, "log.csv")) as f:
        assert len(f.read().strip().splitlines()) == 1 + 2  # header + epochs 1, 2

    env = {k: v for k, v in env.items() if not k.startswith("MIMIC_TEST_HANG")}
    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "2 epoch(s) done" in rerun.stdout
    assert _epochs_started(rerun.stdout) == [3, 4]  # not restarted from epoch 1
    history = training.read_history(mimic)
    assert history["epoch"] == [1, 2, 3, 4] and len(history["loss"]) == 4
    assert not os.path.exists(os.path.join(mimic, "backup"))
    student = keras.saving.load_model(os.path.join(mimic, "model.keras"))
    assert student.count_params() > 0


def test_transfer_set_of_another_teacher_is_refused(prepared, tmp_path, capsys):
    workdir = _copy(prepared, tmp_path)
    keras.utils.set_random_seed(7)  # a retrained teacher: same architecture, other weights
    build_teacher(TINY_TEACHER, name="teacher_0").save(os.path.join(workdir, "teacher", "teacher_0", "model.keras"))
    assert fit.main(mimic_command(workdir)) == 2
    err = capsys.readouterr().err
    assert "run stage 'label' first (teacher out of date)" in err
    assert not os.path.exists(os.path.join(workdir, "mimic"))  # no training step ran
    # Relabelled outside `fit` (so the stage record still says otherwise): the mimic stage's own check.
    for stage in ("teacher", "label"):
        stages.record(stage, mimic_config(), Layout(workdir))
    assert fit.main(mimic_command(workdir)) == 2
    assert "labelled by other teachers" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(workdir, "mimic"))


def test_logits_of_another_size_are_refused(prepared, tmp_path, capsys):
    workdir = _copy(prepared, tmp_path)
    assert fit.main(mimic_command(workdir, "num_classes=5")) == 2
    err = capsys.readouterr().err
    assert "run stage 'label' first (teacher out of date)" in err  # the teachers read num_classes
    for stage in ("teacher", "label"):  # recorded as made for 5 classes: the mimic stage's own check
        stages.record(stage, mimic_config("num_classes=5"), Layout(workdir))
    assert fit.main(mimic_command(workdir, "num_classes=5")) == 2
    assert "holds 10 logits per example but the mimic outputs 5" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(workdir, "mimic"))


def _hang_hook():
    """Makes training stop (sleep) at `MIMIC_TEST_HANG_AT` and announce it in a marker file."""
    from mimic_keras import training

    epoch, step = (int(v) for v in os.environ["MIMIC_TEST_HANG_AT"].split(":"))
    marker = os.environ["MIMIC_TEST_HANG_MARKER"]

    class HangingStop(training.StopOnNonFiniteLoss):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if (self.epoch + 1, batch + 1) == (epoch, step):
                with open(marker, "w") as f:
                    f.write(f"epoch {epoch} step {step}\n")
                time.sleep(600)

    training.StopOnNonFiniteLoss = HangingStop


if __name__ == "__main__":
    if "MIMIC_TEST_HANG_AT" in os.environ:
        _hang_hook()
    sys.exit(fit.main(sys.argv[1:]))
