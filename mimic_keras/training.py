"""Optimisers, callbacks and one `fit` run that leaves its outputs only when it succeeded.

A run lives in a folder:

    run_dir/model.keras      the trained model (written atomically after training): with
                             `checkpoint=best|best_accuracy`, the best validation epoch's
    run_dir/last.keras       then also the last epoch's model, to score beside it
    run_dir/history.json     loss and metrics per epoch (the learning curves); with `patience`,
                             `early_stop`: what was watched and the epoch the run stopped at
    run_dir/log.csv          the same, one row per epoch as it finishes (kept across resumes)
    run_dir/backup/          mid-run state for resuming after a crash (removed on success)
    run_dir/logs/            TensorBoard logs

Crash safety: a run killed at any instant (SIGKILL, preemption, power) and started again
with the same command resumes from its last checkpoint (end of the last finished epoch, or
every `backup_every` steps) and ends with the same number of epochs (with `patience`, at the
epoch an uninterrupted run stops at: `mimic_keras.early_stop` counts from `log.csv`). A backup
written by a run with another training config or model shape is discarded, not resumed. Under
multi-worker training, workers other than the chief write into `run_dir/worker_<i>/`.
"""

import csv
import json
import math
import os
import shutil
import sys

import keras
import numpy as np

from mimic_keras import early_stop
from mimic_keras.atomic import write_json_atomic
from mimic_keras.checkpoints import (
    BEST, BestCheckpoint, EpochSnapshots, ResumableBackup, prepare_backup, read_backup_state, run_stamp,
    save_model_atomic,
)
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
    # Patience without validation is refused before the backup is touched.
    stopper = _early_stop(cfg, val_ds, csv_path) if cfg.patience is not None else None
    backup = prepare_backup(run_dir, run_stamp(cfg, model), stage)
    last_path = os.path.join(run_dir, "last.keras")
    if os.path.exists(last_path):  # an earlier run's: this one writes its own, or none
        os.remove(last_path)
    # The CSV row of an epoch is written before its backup: a crash between the two repeats
    # that epoch, and the log keeps the rerun's row (see read_csv_log).
    callbacks = [
        StopOnNonFiniteLoss(stage),
        *log_callbacks,  # before the loggers: they add to the epoch's logs
        keras.callbacks.CSVLogger(csv_path, append=True),  # all epochs, across resumes
    ]
    if cfg.save_epochs:
        callbacks.append(EpochSnapshots(save_model or model, run_dir, cfg.save_epochs))
    epochs = cfg.epochs
    if stopper is not None:
        callbacks.append(stopper)
        epochs = _epochs_left(cfg, backup, csv_path)
    if cfg.checkpoint in BEST and val_ds is not None:
        # Train all epochs (or until `patience` stops), then return to the weights of the best validation epoch.
        monitor, mode = BEST[cfg.checkpoint]
        callbacks.append(BestCheckpoint(os.path.join(backup, "best.weights.h5"), monitor, mode,
                                        last_path=last_path, save_model=save_model))
    elif cfg.checkpoint != "last" and cfg.checkpoint not in BEST:
        raise ValueError(f"unknown checkpoint protocol {cfg.checkpoint!r}; choose last, {', '.join(BEST)}")
    callbacks += [
        ResumableBackup(backup, save_freq=backup_every or "epoch"),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False, profile_batch=0),
        *extra_callbacks,
    ]
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks, verbose=verbosity())
    curves = read_csv_log(csv_path)
    if cfg.patience is not None:
        curves["early_stop"] = early_stop.summary(curves, cfg.checkpoint, cfg.patience, cfg.epochs)
    save_model_atomic(save_model or model, os.path.join(run_dir, "model.keras"))
    write_json_atomic(os.path.join(run_dir, "history.json"), curves)
    shutil.rmtree(backup)  # only now: a crash before this point still resumes
    return curves


def _early_stop(cfg, val_ds, csv_path):
    """The `EarlyStop` callback of `cfg.patience`, watching what `cfg.checkpoint` keeps."""
    monitor, mode = early_stop.monitored(cfg.checkpoint)
    if val_ds is None:
        raise ValueError(f"patience={cfg.patience} watches {monitor}, but this run has no validation data")
    return early_stop.EarlyStop(lambda: read_csv_log(csv_path), monitor, mode, cfg.patience)


def _epochs_left(cfg, backup, csv_path):
    """The `epochs` to give `fit`: those done when a resumed run had already stopped early, else `cfg.epochs`.

    A run killed after its last epoch's checkpoint but before its model was saved must not
    train one more epoch on resuming.
    """
    state = read_backup_state(backup)
    if state is None:
        return cfg.epochs
    monitor, mode = early_stop.monitored(cfg.checkpoint)
    done = early_stop.logged_values(read_csv_log(csv_path), monitor, state["epoch"])
    return state["epoch"] if early_stop.stopping_epoch(done, mode, cfg.patience) else cfg.epochs


def read_csv_log(path):
    """A run's log.csv as curves {column: [value per epoch]}, `epoch` 1-based ({} when there is none)."""
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
