"""Ensembles of teachers: logits averaged, usable wherever one teacher is."""

import keras


@keras.saving.register_keras_serializable(package="mimic_keras")
class AverageLogits(keras.layers.Layer):
    """Averages a list of logit tensors (kept as its own layer so the graph names it)."""

    def call(self, inputs):
        return keras.ops.mean(keras.ops.stack(inputs, axis=0), axis=0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def build_ensemble(teachers, name="ensemble"):
    """Wraps trained teachers in one frozen model whose output is their mean logits.

    Args:
        teachers: a non-empty list of Keras models with the same input and output shapes.
        name: model name.

    Returns:
        A functional `keras.Model`; its members are frozen (`trainable=False`).
    """
    if not teachers:
        raise ValueError("an ensemble needs at least one teacher")
    shapes = {tuple(t.output.shape[1:]) for t in teachers}
    if len(shapes) != 1:
        raise ValueError(f"teachers disagree on output shape: {sorted(shapes)}")
    first = teachers[0]
    inputs = keras.Input(shape=first.input.shape[1:], dtype=first.input.dtype, name="images")
    outputs = []
    for i, teacher in enumerate(teachers):
        teacher.trainable = False
        teacher.name = f"member{i}_{teacher.name}" if not teacher.name.startswith("member") else teacher.name
        outputs.append(teacher(inputs, training=False))
    logits = AverageLogits(name="logits")(outputs) if len(outputs) > 1 else outputs[0]
    model = keras.Model(inputs, logits, name=name)
    model.trainable = False
    return model
