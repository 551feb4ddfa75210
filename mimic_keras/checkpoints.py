"""Checkpoints of a training run: crash-safe backups to resume from, the best epoch's weights, snapshots.

    run_dir/backup/checkpoint.json      which weights file is the last checkpoint, and its epoch
    run_dir/backup/state-<id>.weights.h5  that checkpoint (model and optimizer state)
    run_dir/backup/run.json             the stamp of the run the backup belongs to
    run_dir/backup/best.weights.h5      the best epoch's weights (`checkpoint=best`, `best_accuracy`)
    run_dir/last.keras                  with those, the last epoch's model (`model.keras` is the best's)

Every file is written under a new name and then renamed, so a kill at any instant leaves either
the old checkpoint or the new one, never a torn one.
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import uuid

import keras

from mimic_keras.atomic import write_json_atomic


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
    """Keeps the weights of the best validation epoch on disk, across resumes.

    At the end of training the model gets those weights back. The best value so far is
    stored with the weights, so a resumed run compares against epochs before the crash.
    Selecting on one value can hide another (a label-trained net whose loss rises while its
    accuracy still improves), so with `last_path` the last epoch's model is saved there first:
    both ends of the run can be scored.

    Args:
        path: the `.weights.h5` file (written atomically).
        monitor: the logged value to compare (`val_loss`, `val_accuracy`, ...).
        mode: `min` (a loss) or `max` (an accuracy).
        last_path: where to save the last epoch's model (`.keras`) before the best weights
            come back; None keeps none.
        save_model: the model `last_path` holds (default the trained model; the student of
            a `Distiller`).
    """

    def __init__(self, path, monitor="val_loss", mode="min", last_path=None, save_model=None):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be min or max, got {mode!r}")
        self.path = path
        self.last_path = last_path
        self._save_model = save_model
        self.monitor = monitor
        self.sign = 1.0 if mode == "min" else -1.0  # compared as sign × value, lower is better
        self.state_path = f"{path}.json"

    def _best(self):
        if not (os.path.exists(self.state_path) and os.path.exists(self.path)):
            return math.inf
        with open(self.state_path) as f:
            return self.sign * json.load(f)["best"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or self.sign * float(value) >= self._best():
            return
        tmp = f"{self.path[:-len('.weights.h5')]}.tmp-{os.getpid()}.weights.h5"
        self.model.save_weights(tmp)
        os.replace(tmp, self.path)
        write_json_atomic(self.state_path, {"best": float(value), "epoch": epoch + 1, "monitor": self.monitor})

    def on_train_end(self, logs=None):
        if self.last_path:
            save_model_atomic(self._save_model or self.model, self.last_path)
        if os.path.exists(self.path):
            self.model.load_weights(self.path)


# `TrainConfig.checkpoint` → the (monitor, mode) that `BestCheckpoint` keeps; `last` keeps none.
BEST = {"best": ("val_loss", "min"), "best_accuracy": ("val_accuracy", "max")}


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
    # `patience` decides only where the run stops, counted from its log (`mimic_keras.early_stop`),
    # not what a checkpoint holds: leaving it out keeps backups written before it existed resumable.
    train.pop("patience", None)
    shapes = [list(w.shape) for w in model.weights]
    blob = json.dumps({"train": train, "weights": shapes}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare_backup(run_dir, stamp, stage):
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
