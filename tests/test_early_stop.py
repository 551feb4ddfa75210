"""When early stopping stops: epochs without a strict improvement, counted from the logged values."""

import math

import pytest

from mimic_keras import early_stop


@pytest.mark.parametrize("values, mode, patience, stop", [
    ({1: 0.9, 2: 0.5, 3: 0.6, 4: 0.7}, "min", 2, 4),
    ({1: 0.9, 2: 0.5, 3: 0.6, 4: 0.4, 5: 0.45}, "min", 2, None),  # improved in epoch 4: 1 epoch since
    ({1: 0.5, 2: 0.5, 3: 0.5}, "min", 2, 3),  # equal is no improvement
    ({1: 0.5, 2: 0.7, 3: 0.6, 4: 0.65}, "max", 2, 4),
    ({1: 0.5, 2: math.nan, 3: 0.4}, "min", 2, None),  # NaN: no improvement
    ({1: math.nan, 2: math.nan}, "min", 2, 2),
    ({1: 0.9, 3: 0.8, 4: 0.85}, "min", 2, None),  # epoch 2 missing from the log: no improvement
    ({}, "min", 1, None),
])
def test_stopping_epoch(values, mode, patience, stop):
    assert early_stop.stopping_epoch(values, mode, patience) == stop


def test_the_summary_says_whether_the_run_stopped_before_its_last_epoch():
    curves = {"epoch": [1, 2, 3, 4], "val_accuracy": [0.5, 0.7, 0.6, 0.65]}
    assert early_stop.summary(curves, "best_accuracy", 2, 40) == {
        "monitor": "val_accuracy", "patience": 2, "stopped_epoch": 4}
    assert early_stop.summary(curves, "best_accuracy", 2, 4)["stopped_epoch"] is None  # it ran all its epochs
    assert early_stop.summary(curves, "best", 2, 40)["stopped_epoch"] is None  # no val_loss logged
    with pytest.raises(ValueError, match="checkpoint=last"):
        early_stop.summary(curves, "last", 2, 40)
