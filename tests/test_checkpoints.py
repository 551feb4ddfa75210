"""The checkpoints of a run: which epoch's weights `BestCheckpoint` keeps, by loss or by accuracy."""

import json

import keras
import pytest

from mimic_keras import checkpoints


def _model():
    inputs = keras.Input((1,))
    return keras.Model(inputs, keras.layers.Dense(1, use_bias=False, name="w")(inputs))


def _run(callback, model, logs):
    """Epoch i sets the weight to i + 1 and logs `logs[i]`; returns the weight training ends with."""
    callback.set_model(model)
    for epoch, values in enumerate(logs):
        model.layers[-1].kernel.assign([[float(epoch + 1)]])
        callback.on_epoch_end(epoch, values)
    callback.on_train_end()
    return float(model.layers[-1].kernel.numpy()[0, 0])


@pytest.mark.parametrize("choice, logs, best_epoch", [
    ("best", [{"val_loss": 0.9}, {"val_loss": 0.4}, {"val_loss": 0.6}], 2),
    ("best_accuracy", [{"val_accuracy": 0.5}, {"val_accuracy": 0.6}, {"val_accuracy": 0.8}, {"val_accuracy": 0.7}], 3),
    # The lowest loss and the highest accuracy can be different epochs: each choice keeps its own.
    ("best", [{"val_loss": 0.3, "val_accuracy": 0.5}, {"val_loss": 0.5, "val_accuracy": 0.9}], 1),
    ("best_accuracy", [{"val_loss": 0.3, "val_accuracy": 0.5}, {"val_loss": 0.5, "val_accuracy": 0.9}], 2),
])
def test_best_checkpoint_keeps_the_chosen_epoch(tmp_path, choice, logs, best_epoch):
    path = str(tmp_path / "best.weights.h5")
    monitor, mode = checkpoints.BEST[choice]
    assert _run(checkpoints.BestCheckpoint(path, monitor, mode), _model(), logs) == best_epoch
    state = json.loads(open(f"{path}.json").read())
    assert (state["epoch"], state["monitor"]) == (best_epoch, monitor)


def test_a_resumed_run_compares_with_the_best_before_the_crash(tmp_path):
    path = str(tmp_path / "best.weights.h5")
    _run(checkpoints.BestCheckpoint(path, "val_accuracy", "max"), _model(), [{"val_accuracy": 0.9}])
    # After the restart, epochs worse than 0.9 do not replace the kept weights.
    resumed = checkpoints.BestCheckpoint(path, "val_accuracy", "max")
    assert _run(resumed, _model(), [{"val_accuracy": 0.7}, {"val_accuracy": float("nan")}]) == 1.0


def test_best_checkpoint_refuses_an_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match="min or max"):
        checkpoints.BestCheckpoint(str(tmp_path / "w.weights.h5"), mode="largest")


def test_the_last_epoch_is_saved_before_the_best_comes_back(tmp_path):
    path, last = str(tmp_path / "best.weights.h5"), str(tmp_path / "last.keras")
    logs = [{"val_loss": 0.9}, {"val_loss": 0.4}, {"val_loss": 0.6}]
    assert _run(checkpoints.BestCheckpoint(path, last_path=last), _model(), logs) == 2
    saved = keras.saving.load_model(last, compile=False)
    assert float(saved.layers[-1].kernel.numpy()[0, 0]) == 3.0  # the third epoch's weight


def test_the_last_model_can_be_another_than_the_trained_one(tmp_path):
    # A Distiller trains itself but saves its student: `save_model` is what `last.keras` holds.
    trained, student = _model(), _model()
    student.layers[-1].kernel.assign([[-5.0]])
    last = str(tmp_path / "last.keras")
    _run(checkpoints.BestCheckpoint(str(tmp_path / "b.weights.h5"), last_path=last, save_model=student), trained,
         [{"val_loss": 0.1}])
    assert float(keras.saving.load_model(last, compile=False).layers[-1].kernel.numpy()[0, 0]) == -5.0
