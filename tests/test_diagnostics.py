import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import diagnostics, training
from mimic_keras.config import TrainConfig
from tests.test_training import _data, _model


def test_hidden_unit_stats_by_hand():
    a = np.array([[0.0, 2.0, 0.0, 2.0],
                  [0.0, 1.0, 3.0, 0.0]])
    stats = diagnostics.hidden_unit_stats(a)
    assert stats["hidden_active"] == pytest.approx(4 / 8)
    assert stats["hidden_dead"] == pytest.approx(1 / 4)  # unit 0 never fires
    assert stats["hidden_mean"] == pytest.approx(8 / 8)
    assert stats["hidden_top1"] == pytest.approx((2 / 4 + 3 / 4) / 2)


def test_probe_inputs_takes_the_first_examples():
    x = np.arange(50, dtype="float32").reshape(25, 2)
    ds = tf.data.Dataset.from_tensor_slices((x, x[:, 0])).batch(4)
    np.testing.assert_array_equal(diagnostics.probe_inputs(ds, count=10), x[:10])
    with pytest.raises(ValueError, match="empty"):
        diagnostics.probe_inputs(ds.take(0))


def test_stats_reach_the_history_of_a_run(tmp_path):
    model, data = _model(), _data()
    callbacks = diagnostics.hidden_stats_callbacks(model, data, count=32)
    assert len(callbacks) == 1
    history = training.fit_run(model, data, data, TrainConfig(epochs=3, batch_size=8), str(tmp_path), "t",
                               log_callbacks=callbacks)
    for key in diagnostics.STATS:
        assert len(history[key]) == 3 and all(0.0 <= v for v in history[key])
    # The last epoch's numbers are those of the final model on the probe.
    features = model.get_layer("hidden").output
    import keras

    acts = keras.Model(model.inputs, features).predict(diagnostics.probe_inputs(data, 32), verbose=0)
    assert history["hidden_active"][-1] == pytest.approx(diagnostics.hidden_unit_stats(acts)["hidden_active"])


def test_no_stats_without_a_hidden_layer_or_validation_data():
    model = _model()
    assert diagnostics.hidden_stats_callbacks(model, None) == []
    assert diagnostics.hidden_stats_callbacks(model, _data(), layer_name="nope") == []
