"""Optimisers, callbacks and one `fit` run that leaves its outputs only when it succeeded.

A run lives in a folder:

    run_dir/model.keras      the trained model (written atomically after training)
    run_dir/history.json     loss and metrics per epoch (the learning curves)
    run_dir/log.csv          the same, one row per epoch as it finishes (kept across resumes)
    run_dir/backup/          mid-run state for resuming after a crash (removed on success)
    run_dir/logs/            TensorBoard logs

Crash safety: a run killed at any instant (SIGKILL, preemption, power) and started again
with the same command resumes from its last checkpoint (end of the last finished epoch, or
every `backup_every` steps) and ends with the same number of epochs. A backup written by a
run with another training config or model shape is discarded, not resumed. Under
multi-worker training, workers other than the chief write into `run_dir/worker_<i>/`.
"""

import contextlib
import csv
import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import uuid

import keras
import numpy as np

from mimic_keras.data.writer import write_json_atomic
from mimic_keras.distribute import is_chief, worker_index
from mimic_keras.optimizers import FusedAdam, FusedSGD


class NonFiniteLossError(RuntimeError):
    """Raised when the training loss becomes NaN or infinite."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with a clear error (stage, epoch, step) when the loss is NaN or inf."""

    def __init__(self, stage):
        super().__init__()
        self.stage = stage
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"{self.stage}: loss became {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}; "
                "nothing from this run was saved (try a lower learning rate)"
            )


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose checkpoint survives a kill at any instant.

    Keras overwrites one weights file and then its metadata in place: a kill during the
    write leaves a torn file, a kill between the two a mismatched pair, and a step-level
    backup taken in the first epoch after a resume records epoch 0. Here every checkpoint's
    weights (and optimizer state) go to a new file, then a small JSON pointer naming it and
    its epoch is replaced atomically; older files are deleted only after that.

    Args:
        backup_dir: folder of the checkpoints (used by nothing else).
        save_freq: `"epoch"`, or a number of steps between checkpoints. After a resume from
            a mid-epoch checkpoint, that epoch starts again from its first batch with the
            mid-epoch weights (Keras resumes whole epochs).
    """

    POINTER = "checkpoint.json"

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"state-{uuid.uuid4().hex[:12]}.weights.h5"
        path = os.path.join(self.backup_dir, name)
        self.model.save_weights(path)
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
        write_json_atomic(
            os.path.join(self.backup_dir, self.POINTER),
            {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name},
        )
        for old in os.listdir(self.backup_dir):
            if old.startswith("state-") and old != name:
                os.remove(os.path.join(self.backup_dir, old))

    def _load_model(self):
        state = read_backup_state(self.backup_dir)
        if state is None:
            return
        if not self.model.built:
            raise ValueError("ResumableBackup needs a built model before fit()")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        self.model._initial_epoch = state["epoch"]  # what keras.callbacks.BackupAndRestore sets
        self._current_epoch = state["epoch"]
        print(f"resuming from {self.backup_dir}: {state['epoch']} epoch(s) done", flush=True)


class EpochSnapshots(keras.callbacks.Callback):
    """Saves `model` as `<run_dir>/epoch_<n>.keras` after each epoch n in `epochs` (1-based).

    Keeps a model's earlier states, e.g. teachers of several accuracies from one run.
    """

    def __init__(self, model, run_dir, epochs):
        super().__init__()
        self._target = model
        self.run_dir = run_dir
        self.epochs = {int(e) for e in epochs}

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            save_model_atomic(self._target, os.path.join(self.run_dir, f"epoch_{epoch + 1}.keras"))


def read_backup_state(backup_dir):
    """The last checkpoint's `{"epoch", "batch", "weights"}` in a backup folder, or None."""
    pointer = os.path.join(backup_dir, ResumableBackup.POINTER)
    if not os.path.exists(pointer):
        return None
    try:
        with open(pointer) as f:
            state = json.load(f)
        usable = isinstance(state.get("epoch"), int) and os.path.isfile(os.path.join(backup_dir, state["weights"]))
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        usable = False
    if not usable:  # damaged (a run that shared the workdir before locks, a disk error): start over
        print(f"note: {backup_dir}: its last checkpoint is unreadable or gone; training starts over", flush=True)
        return None
    return state


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps the weights of the lowest validation loss on disk, across resumes.

    At the end of training the model gets those weights back. The best value so far is
    stored with the weights, so a resumed run compares against epochs before the crash.

    Args:
        path: the `.weights.h5` file (written atomically).
        monitor: the logged value to minimise.
    """

    def __init__(self, path, monitor="val_loss"):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.state_path = f"{path}.json"

    def _best(self):
        if not (os.path.exists(self.state_path) and os.path.exists(self.path)):
            return math.inf
        with open(self.state_path) as f:
            return json.load(f)["best"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or float(value) >= self._best():
            return
        tmp = f"{self.path[:-len('.weights.h5')]}.tmp-{os.getpid()}.weights.h5"
        self.model.save_weights(tmp)
        os.replace(tmp, self.path)
        write_json_atomic(self.state_path, {"best": float(value), "epoch": epoch + 1})

    def on_train_end(self, logs=None):
        if os.path.exists(self.path):
            self.model.load_weights(self.path)


def make_optimizer(cfg, steps_per_epoch):
    """An optimiser with the configured learning-rate schedule (cosine decay or constant)."""
    lr = cfg.learning_rate
    if cfg.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, cfg.epochs * steps_per_epoch))
    elif cfg.schedule != "constant":
        raise ValueError(f"unknown schedule {cfg.schedule!r}; choose cosine or constant")
    # Keras's Adam and SGD, each variable's update in one kernel (mimic_keras/optimizers.py).
    if cfg.optimizer == "adam":
        return FusedAdam(lr)
    if cfg.optimizer == "sgd":
        return FusedSGD(lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adam or sgd")


def verbosity():
    """Keras progress bars on a terminal, one line per epoch in a log file."""
    return 1 if sys.stdout.isatty() else 2


def save_model_atomic(model, path):
    """Saves a `.keras` file under a temporary name, then renames it into place."""
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, path)


def run_stamp(cfg, model):
    """A digest of what a backup is only valid for: the training config and the weights' shapes.

    Shapes, not layer names: Keras numbers unnamed layers per process, and a resumed run is a
    new process.
    """
    train = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(vars(cfg))
    shapes = [list(w.shape) for w in model.weights]
    blob = json.dumps({"train": train, "weights": shapes}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _prepare_backup(run_dir, stamp, stage):
    """Keeps a backup of the same run (resume); otherwise starts the folder fresh."""
    backup = os.path.join(run_dir, "backup")
    stamp_path = os.path.join(backup, "run.json")
    if os.path.isdir(backup):
        previous = None
        if os.path.exists(stamp_path):
            with contextlib.suppress(OSError, ValueError, AttributeError):  # damaged: discarded below
                with open(stamp_path) as f:
                    previous = json.load(f).get("stamp")
        if previous == stamp:
            return backup
        print(f"{stage}: discarding {backup}: it was written by a run with another config or model", flush=True)
        shutil.rmtree(backup)
    csv_path = os.path.join(run_dir, "log.csv")
    if os.path.exists(csv_path):
        os.remove(csv_path)  # a fresh run, not a resumed one
    os.makedirs(backup)
    write_json_atomic(stamp_path, {"stamp": stamp})
    return backup


def worker_run_dir(run_dir, strategy):
    """`run_dir` for the chief; `run_dir/worker_<i>` for the other workers of a multi-worker run."""
    return run_dir if is_chief(strategy) else os.path.join(run_dir, f"worker_{worker_index(strategy)}")


def fit_run(model, train_ds, val_ds, cfg, run_dir, stage, save_model=None, extra_callbacks=(), backup_every=None,
            log_callbacks=()):
    """Trains `model` (already compiled) and writes the run folder described above.

    Args:
        model: a compiled Keras model (or `Distiller`).
        train_ds: batched training dataset.
        val_ds: batched validation dataset (or None).
        cfg: the `TrainConfig` (epochs, checkpoint protocol).
        run_dir: the run folder.
        stage: stage name, for messages.
        save_model: the model to save (default `model`; the student for a `Distiller`).
        extra_callbacks: more Keras callbacks.
        log_callbacks: callbacks that add entries to each epoch's logs; they run before the
            CSV and TensorBoard loggers.
        backup_every: steps between backups (default: one backup per epoch). Worth it when
            an epoch takes long compared to writing the weights and optimizer state.

    Returns:
        The history dict (lists per metric).
    """
    run_dir = worker_run_dir(run_dir, model.distribute_strategy)
    os.makedirs(run_dir, exist_ok=True)
    csv_path = os.path.join(run_dir, "log.csv")
    backup = _prepare_backup(run_dir, run_stamp(cfg, model), stage)
    # The CSV row of an epoch is written before its backup: a crash between the two repeats
    # that epoch, and the log keeps the rerun's row (see _read_csv_log).
    callbacks = [
        StopOnNonFiniteLoss(stage),
        *log_callbacks,  # before the loggers: they add to the epoch's logs
        keras.callbacks.CSVLogger(csv_path, append=True),  # all epochs, across resumes
    ]
    if cfg.save_epochs:
        callbacks.append(EpochSnapshots(save_model or model, run_dir, cfg.save_epochs))
    if cfg.checkpoint == "best" and val_ds is not None:
        # Train all epochs, then return to the weights of the lowest validation loss.
        callbacks.append(BestCheckpoint(os.path.join(backup, "best.weights.h5")))
    elif cfg.checkpoint not in ("last", "best"):
        raise ValueError(f"unknown checkpoint protocol {cfg.checkpoint!r}; choose last or best")
    callbacks += [
        ResumableBackup(backup, save_freq=backup_every or "epoch"),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False, profile_batch=0),
        *extra_callbacks,
    ]
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks, verbose=verbosity())
    curves = _read_csv_log(csv_path)
    save_model_atomic(save_model or model, os.path.join(run_dir, "model.keras"))
    write_json_atomic(os.path.join(run_dir, "history.json"), curves)
    shutil.rmtree(backup)  # only now: a crash before this point still resumes
    return curves


def _read_csv_log(path):
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # Only rows that parse: a log cut by a kill mid-line, or written by an older run, must never
    # stop the resume that reads it.
    rows = [row for row in rows if _log_row_ok(row)]
    by_epoch = {int(row["epoch"]): row for row in rows}  # an epoch run twice (crash between its
    rows = [by_epoch[e] for e in sorted(by_epoch)]        # log row and its backup): the last row wins
    keys = [k for k in (rows[0] if rows else {}) if k and any(row.get(k) != "NA" for row in rows)]  # NA: no validation
    curves = {key: [_log_value(row.get(key)) for row in rows] for key in keys}
    if "epoch" in curves:
        curves["epoch"] = [int(e) + 1 for e in curves["epoch"]]
    return curves


def _log_row_ok(row):
    try:
        int(row.get("epoch"))
    except (TypeError, ValueError):
        return False  # a repeated header, or a line cut short
    return None not in row  # more fields than the header: lines run together


def _log_value(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan  # NA (no validation), or a field cut short


def read_history(run_dir):
    """The `history.json` of a run, or None."""
    path = os.path.join(run_dir, "history.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def steps_for(count, batch_size):
    return max(1, int(np.ceil(count / batch_size)))
