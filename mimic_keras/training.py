"""Optimisers, callbacks and one `fit` run that leaves its outputs only when it succeeded.

A run lives in a folder:

    run_dir/model.keras      the trained model (written atomically after training)
    run_dir/history.json     loss and metrics per epoch (the learning curves)
    run_dir/backup/          mid-run state for resuming after a crash (removed on success)
    run_dir/logs/            TensorBoard logs
"""

import csv
import json
import math
import os
import sys

import keras
import numpy as np

from mimic_keras.data.writer import write_json_atomic


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
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adam or sgd")


def verbosity():
    """Keras progress bars on a terminal, one line per epoch in a log file."""
    return 1 if sys.stdout.isatty() else 2


def save_model_atomic(model, path):
    """Saves a `.keras` file under a temporary name, then renames it into place."""
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, path)


def fit_run(model, train_ds, val_ds, cfg, run_dir, stage, save_model=None, extra_callbacks=()):
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

    Returns:
        The history dict (lists per metric).
    """
    os.makedirs(run_dir, exist_ok=True)
    csv_path = os.path.join(run_dir, "log.csv")
    if not os.path.isdir(os.path.join(run_dir, "backup")) and os.path.exists(csv_path):
        os.remove(csv_path)  # a fresh run, not a resumed one
    callbacks = [
        StopOnNonFiniteLoss(stage),
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup"), delete_checkpoint=True),
        keras.callbacks.CSVLogger(csv_path, append=True),  # all epochs, across resumes
        keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False, profile_batch=0),
        *extra_callbacks,
    ]
    if cfg.checkpoint == "best" and val_ds is not None:
        # Keep training all epochs, then restore the weights of the lowest validation loss.
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.epochs, restore_best_weights=True)
        )
    elif cfg.checkpoint not in ("last", "best"):
        raise ValueError(f"unknown checkpoint protocol {cfg.checkpoint!r}; choose last or best")
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks, verbose=verbosity())
    curves = _read_csv_log(csv_path)
    save_model_atomic(save_model or model, os.path.join(run_dir, "model.keras"))
    write_json_atomic(os.path.join(run_dir, "history.json"), curves)
    return curves


def _read_csv_log(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    curves = {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}
    if "epoch" in curves:
        curves["epoch"] = [int(e) + 1 for e in curves["epoch"]]
    return curves


def read_history(run_dir):
    """The `history.json` of a run, or None."""
    path = os.path.join(run_dir, "history.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def steps_for(count, batch_size):
    return max(1, int(np.ceil(count / batch_size)))
