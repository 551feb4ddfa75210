"""Early stopping that a resumed run agrees with: epochs without improvement counted from the run's log.

`TrainConfig.patience=N` stops a run once the value its `checkpoint` rule keeps (`best`: the
lowest validation loss, `best_accuracy`: the highest validation accuracy) has not improved
for N epochs. Keras's `EarlyStopping` counts in memory, so a run killed and resumed would
start counting again; here the count is worked out from the per-epoch values of the run's
`log.csv` (kept across resumes), so a resumed run stops at the epoch an uninterrupted one does.
The learning-rate schedule still spans all `epochs`: a run that stops early has not decayed
its learning rate to the end.
"""

import math

import keras

from mimic_keras.checkpoints import BEST


def stopping_epoch(values, mode, patience):
    """The epoch (1-based) at which a run stops: `patience` epochs after its best one, or None.

    Args:
        values: {epoch (1-based): the monitored value}; a missing or non-finite value is no
            improvement (as in `BestCheckpoint`).
        mode: `min` or `max`.
        patience: epochs without a strict improvement before stopping.
    """
    sign = 1.0 if mode == "min" else -1.0
    best, best_epoch = math.inf, 0
    for epoch in range(1, max(values, default=0) + 1):
        value = values.get(epoch)
        if value is not None and math.isfinite(value) and sign * value < best:
            best, best_epoch = sign * value, epoch
        if epoch - best_epoch >= patience:
            return epoch
    return None


def monitored(checkpoint):
    """(monitor, mode) that `patience` watches under checkpoint rule `checkpoint`.

    Raises:
        ValueError: `checkpoint=last`, which monitors nothing.
    """
    if checkpoint not in BEST:
        raise ValueError(f"patience needs checkpoint=best or best_accuracy (the value it watches), "
                         f"not checkpoint={checkpoint}")
    return BEST[checkpoint]


def logged_values(curves, monitor, upto):
    """{epoch: value} of `monitor` in a run's curves (`training.read_csv_log`) for epochs 1..`upto`."""
    return {e: v for e, v in zip(curves.get("epoch", []), curves.get(monitor, [])) if e <= upto}


def summary(curves, checkpoint, patience, epochs):
    """What `history.json` records of early stopping: monitor, patience, and the epoch it stopped at (or None)."""
    monitor, mode = monitored(checkpoint)
    stop = stopping_epoch(logged_values(curves, monitor, epochs), mode, patience)
    return {"monitor": monitor, "patience": patience, "stopped_epoch": stop if stop and stop < epochs else None}


class EarlyStop(keras.callbacks.Callback):
    """Stops `fit` after `patience` epochs without improvement of `monitor`, counted across resumes.

    Args:
        read_log: a function returning the run's curves so far ({"epoch": [...], monitor: [...]})
            from its log, which holds the epochs of the runs before a resume.
        monitor: the logged value to watch (`val_loss`, `val_accuracy`).
        mode: `min` or `max`.
        patience: epochs without improvement before stopping.
    """

    def __init__(self, read_log, monitor, mode, patience):
        super().__init__()
        self.read_log, self.monitor, self.mode, self.patience = read_log, monitor, mode, patience

    def on_epoch_end(self, epoch, logs=None):
        values = logged_values(self.read_log(), self.monitor, epoch)  # the epochs before this one
        value = (logs or {}).get(self.monitor)
        values[epoch + 1] = math.nan if value is None else float(value)
        if stopping_epoch(values, self.mode, self.patience) is not None:
            print(f"stopping early after epoch {epoch + 1}: {self.monitor} has not improved for "
                  f"{self.patience} epochs", flush=True)
            self.model.stop_training = True
