"""fit_run's crash safety: resume from the last checkpoint, best weights across resumes, stale backups.

The end-to-end check (a CLI run SIGKILLed mid-epoch, then the same command) is in
tests/test_faults.py; here crashes are exceptions raised at a chosen step, in process.
"""

import dataclasses
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import checkpoints, training
from mimic_keras.config import TrainConfig


class Crash(Exception):
    pass


class CrashAt(keras.callbacks.Callback):
    """Raises `Crash` after step `step` of epoch `epoch` (both 1-based)."""

    def __init__(self, epoch, step):
        super().__init__()
        self.at, self.epoch = (epoch, step), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            raise Crash(f"crash in epoch {self.epoch}, step {batch + 1}")


class Recorder(keras.callbacks.Callback):
    """Records the epochs run and the weights at each epoch end (in memory, across runs)."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def on_epoch_begin(self, epoch, logs=None):
        self.log.setdefault("started", []).append(epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.log.setdefault("weights", {})[epoch + 1] = [w.numpy().copy() for w in self.model.weights]


def _model(lr=0.05, optimizer="adam"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(3, name="out")(keras.layers.Dense(8, activation="relu", name="hidden")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(lr) if optimizer == "adam" else keras.optimizers.SGD(lr), loss="mse")
    return model


def _data(n=64, batch=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, :3] * 2 - x[:, 3:]).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)  # 8 steps per epoch, fixed order


CFG = TrainConfig(epochs=5, batch_size=8, checkpoint="last")


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path):
    straight = _model()
    training.fit_run(straight, _data(), None, CFG, str(tmp_path / "straight"), "test")

    run_dir = str(tmp_path / "crashed")
    with pytest.raises(Crash):
        training.fit_run(_model(), _data(), None, CFG, run_dir, "test", extra_callbacks=[CrashAt(3, 4)])
    assert not os.path.exists(os.path.join(run_dir, "model.keras"))  # nothing final from a failed run
    assert checkpoints.read_backup_state(os.path.join(run_dir, "backup"))["epoch"] == 2

    log = {}
    resumed = _model()
    history = training.fit_run(resumed, _data(), None, CFG, run_dir, "test", extra_callbacks=[Recorder(log)])
    assert log["started"] == [3, 4, 5]
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert training.read_history(run_dir) == history
    assert not os.path.exists(os.path.join(run_dir, "backup"))
    # Weights and optimizer state were restored: the same numbers as never crashing.
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history["loss"], training.read_history(str(tmp_path / "straight"))["loss"], rtol=1e-5)


def test_step_backups_resume_inside_the_interrupted_epoch(tmp_path):
    run_dir = str(tmp_path / "run")
    with pytest.raises(Crash):
        training.fit_run(_model(), _data(), None, CFG, run_dir, "test", extra_callbacks=[CrashAt(2, 6)],
                         backup_every=3)
    state = checkpoints.read_backup_state(os.path.join(run_dir, "backup"))
    assert (state["epoch"], state["batch"]) == (1, 3)  # every 3 steps: the last after step 4 of epoch 2
    # A second crash in the first epoch after the resume must not send the run back to epoch 1.
    with pytest.raises(Crash):
        training.fit_run(_model(), _data(), None, CFG, run_dir, "test", extra_callbacks=[CrashAt(2, 5)],
                         backup_every=3)
    assert checkpoints.read_backup_state(os.path.join(run_dir, "backup"))["epoch"] == 1
    log = {}
    history = training.fit_run(_model(), _data(), None, CFG, run_dir, "test", extra_callbacks=[Recorder(log)],
                               backup_every=3)
    assert log["started"] == [2, 3, 4, 5]
    assert history["epoch"] == [1, 2, 3, 4, 5]


def test_a_torn_checkpoint_write_is_ignored(tmp_path):
    run_dir = str(tmp_path / "run")
    with pytest.raises(Crash):
        training.fit_run(_model(), _data(), None, CFG, run_dir, "test", extra_callbacks=[CrashAt(3, 1)])
    backup = os.path.join(run_dir, "backup")
    with open(os.path.join(backup, "state-torn.weights.h5"), "wb") as f:
        f.write(b"\x89HDF\r\n half a file")  # killed while writing the next checkpoint
    log = {}
    training.fit_run(_model(), _data(), None, CFG, run_dir, "test", extra_callbacks=[Recorder(log)])
    assert log["started"] == [3, 4, 5]


def test_a_backup_of_another_config_is_not_resumed(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    with pytest.raises(Crash):
        training.fit_run(_model(), _data(), None, CFG, run_dir, "test", extra_callbacks=[CrashAt(3, 1)])
    other = TrainConfig(epochs=5, batch_size=8, checkpoint="last", learning_rate=1e-4)
    log = {}
    history = training.fit_run(_model(), _data(), None, other, run_dir, "test", extra_callbacks=[Recorder(log)])
    assert "discarding" in capsys.readouterr().out
    assert log["started"] == [1, 2, 3, 4, 5]
    assert history["epoch"] == [1, 2, 3, 4, 5]  # the old run's log rows are gone too


def test_best_weights_survive_a_resume(tmp_path):
    # The validation loss falls, then rises (`_rising_val_loss`): the best epoch is in the
    # middle, before the crash.
    model, train, val = _rising_val_loss()
    cfg = TrainConfig(epochs=8, batch_size=4, checkpoint="best")
    run_dir = str(tmp_path / "run")
    log = {}
    with pytest.raises(Crash):
        training.fit_run(model(), train, val, cfg, run_dir, "test", extra_callbacks=[Recorder(log), CrashAt(6, 1)])
    final = model()
    history = training.fit_run(final, train, val, cfg, run_dir, "test", extra_callbacks=[Recorder(log)])
    best = int(np.argmin(history["val_loss"])) + 1
    assert 1 < best < 6  # the best epoch ran before the crash
    np.testing.assert_allclose(final.weights[0].numpy(), log["weights"][best][0])
    saved = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    np.testing.assert_allclose(saved.weights[0].numpy(), log["weights"][best][0])
    # ... and the last epoch's model beside it, to score both ends of the run.
    last = keras.saving.load_model(os.path.join(run_dir, "last.keras"))
    np.testing.assert_allclose(last.weights[0].numpy(), log["weights"][8][0])


def test_a_run_keeping_its_last_epoch_leaves_no_earlier_last_model(tmp_path):
    model, train, val = _rising_val_loss()
    run_dir = str(tmp_path / "run")
    training.fit_run(model(), train, val, TrainConfig(epochs=3, batch_size=4, checkpoint="best"), run_dir, "t")
    assert os.path.exists(os.path.join(run_dir, "last.keras"))
    # The same folder trained again with checkpoint=last: model.keras is the last epoch, and a
    # last.keras of the earlier run would pass for this one's.
    training.fit_run(model(), train, val, TrainConfig(epochs=3, batch_size=4, checkpoint="last"), run_dir, "t")
    assert not os.path.exists(os.path.join(run_dir, "last.keras"))


def test_non_chief_workers_write_their_own_folder():
    chief = types.SimpleNamespace(extended=types.SimpleNamespace(should_checkpoint=True))
    worker = types.SimpleNamespace(
        extended=types.SimpleNamespace(should_checkpoint=False), cluster_resolver=types.SimpleNamespace(task_id=2)
    )
    assert training.worker_run_dir("runs/x/mimic", chief) == "runs/x/mimic"
    assert training.worker_run_dir("runs/x/mimic", worker) == os.path.join("runs/x/mimic", "worker_2")
    assert training.worker_run_dir("runs/x/mimic", tf.distribute.get_strategy()) == "runs/x/mimic"


def test_run_stamp_depends_on_config_and_shapes_not_names():
    a, b = _model(), _model()  # second model: other auto layer names in this process
    assert checkpoints.run_stamp(CFG, a) == checkpoints.run_stamp(CFG, b)
    assert checkpoints.run_stamp(CFG, a) != checkpoints.run_stamp(TrainConfig(epochs=6, batch_size=8), a)


def test_save_epochs_keeps_the_models_of_those_epochs(tmp_path):
    model, log = _model(), {}
    cfg = dataclasses.replace(CFG, epochs=4, save_epochs=(1, 3))
    training.fit_run(model, _data(), None, cfg, str(tmp_path), "t", extra_callbacks=[Recorder(log)])
    assert sorted(f for f in os.listdir(tmp_path) if f.startswith("epoch_")) == ["epoch_1.keras", "epoch_3.keras"]
    for epoch in (1, 3):
        saved = keras.saving.load_model(str(tmp_path / f"epoch_{epoch}.keras"), compile=False)
        for got, want in zip(saved.weights, log["weights"][epoch]):
            np.testing.assert_allclose(got.numpy(), want)


def _rising_val_loss():
    """One weight w, x = 1: training pulls w from 0 towards 10, validation wants 3 (reached near epoch 4).

    The validation loss falls, then rises: its best epoch is in the middle, and patience stops
    the run some epochs later.
    """
    x = np.ones((4, 1), "float32")
    train = tf.data.Dataset.from_tensor_slices((x, np.full((4, 1), 10.0, "float32"))).batch(4)
    val = tf.data.Dataset.from_tensor_slices((x, np.full((4, 1), 3.0, "float32"))).batch(4)

    def model():
        inputs = keras.Input((1,))
        m = keras.Model(inputs, keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="w")(inputs))
        m.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        return m

    return model, train, val


def test_patience_stops_after_that_many_epochs_without_improvement(tmp_path):
    model, train, val = _rising_val_loss()
    cfg = TrainConfig(epochs=20, batch_size=4, checkpoint="best", patience=2)
    log = {}
    final = model()
    history = training.fit_run(final, train, val, cfg, str(tmp_path), "test", extra_callbacks=[Recorder(log)])
    best = int(np.argmin(history["val_loss"])) + 1
    assert history["epoch"] == list(range(1, best + 3))  # the best epoch, then 2 without improvement
    assert history["early_stop"] == {"monitor": "val_loss", "patience": 2, "stopped_epoch": best + 2}
    assert training.read_history(str(tmp_path)) == history
    np.testing.assert_allclose(final.weights[0].numpy(), log["weights"][best][0])  # the best epoch's weights


def test_patience_lets_an_improving_run_train_all_epochs(tmp_path):
    history = training.fit_run(_model(), _data(), _data(), dataclasses.replace(CFG, checkpoint="best", patience=1),
                                str(tmp_path), "test")
    assert np.all(np.diff(history["val_loss"]) < 0)  # improves every epoch
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert history["early_stop"]["stopped_epoch"] is None


@pytest.mark.parametrize("killed", ["after the best epoch", "after the last epoch's checkpoint"])
def test_a_resumed_run_stops_at_the_epoch_an_uninterrupted_one_does(tmp_path, killed):
    model, train, val = _rising_val_loss()
    cfg = TrainConfig(epochs=20, batch_size=4, checkpoint="best", patience=3)
    straight = training.fit_run(model(), train, val, cfg, str(tmp_path / "straight"), "test")
    stop = straight["early_stop"]["stopped_epoch"]
    best = int(np.argmin(straight["val_loss"])) + 1
    assert stop == best + 3
    run_dir = str(tmp_path / "crashed")
    # Killed in the epoch after the best one (the count of epochs without improvement must come
    # back from the log), or once the run had stopped, before its model was saved (it must not
    # train one more epoch).
    done, crash = (best + 1, CrashAt(best + 2, 1)) if killed == "after the best epoch" else (stop, _CrashAtTrainEnd())
    with pytest.raises(Crash):
        training.fit_run(model(), train, val, cfg, run_dir, "test", extra_callbacks=[crash])
    assert checkpoints.read_backup_state(os.path.join(run_dir, "backup"))["epoch"] == done
    log = {}
    resumed = training.fit_run(model(), train, val, cfg, run_dir, "test", extra_callbacks=[Recorder(log)])
    assert log.get("started", []) == list(range(done + 1, stop + 1))
    assert resumed["epoch"] == straight["epoch"] and resumed["early_stop"] == straight["early_stop"]
    np.testing.assert_allclose(resumed["val_loss"], straight["val_loss"], rtol=1e-6)


class _CrashAtTrainEnd(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        raise Crash("killed after the last checkpoint, before the model was saved")


def test_patience_without_validation_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no validation data"):
        training.fit_run(_model(), _data(), None, dataclasses.replace(CFG, checkpoint="best", patience=2),
                         str(tmp_path), "test")


def test_patience_is_not_part_of_a_backups_stamp():
    # Backups written before the field existed (or with another patience) still resume.
    model = _model()
    assert checkpoints.run_stamp(CFG, model) == checkpoints.run_stamp(dataclasses.replace(CFG, patience=4), model)
