"""Model summary numbers for results tables: non-linear hidden units.

Parameter counts are `model.count_params()` (and each builder's `*_param_count` formula);
the paper's Table 1 also counts hidden units, which Keras does not.
"""

import keras


def hidden_units(model):
    """Non-linear hidden units of a model (ReLU outputs of its Dense and Conv layers, per example).

    The Table 1 column: a linear bottleneck does not count, a conv layer counts positions ×
    filters. Nested models (ensemble members) are counted too.

    Args:
        model: a built Keras model.

    Returns:
        An int.

    Example:
    ```python
    mimic = build_mimic(MimicConfig(conv_filters=0, bottleneck=8, hidden=32), 183, input_shape=(1845,))
    hidden_units(mimic)  # 32: the linear bottleneck is not a hidden layer
    ```
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += hidden_units(layer)
        elif isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)):
            if getattr(layer.activation, "__name__", "") == "relu":
                shape = layer.output.shape[1:]
                size = 1
                for dim in shape:
                    size *= dim
                total += size
    return total
