"""LiteRT (TFLite) conversion of a logits model, and running a `.tflite` file on batches.

Three variants (`export.tflite=`):

* `float32`: the graph as it is.
* `dynamic`: weights stored as int8, activations float (dynamic-range quantization).
* `int8`: weights and activations int8, ranges calibrated on `representative` inputs (a few
  hundred transfer-set examples); inputs and outputs stay in the model's own dtypes, so a
  caller feeds every variant the same uint8 images or float32 windows and reads float logits.

The interpreter is `ai_edge_litert`'s (the LiteRT package); `tf.lite.Interpreter` is the
fallback where it is not installed.
"""

import numpy as np
import tensorflow as tf

VARIANTS = ("float32", "dynamic", "int8")
FLAG_POINTS = 1.0  # a variant losing more than this many points of accuracy is flagged


def interpreter_class():
    """(Interpreter class, its package name): LiteRT's, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError:  # pragma: no cover - the package is in requirements.txt
        return tf.lite.Interpreter, "tf.lite"


def convert(model, variant, representative=None):
    """The `.tflite` bytes of a Keras logits model.

    Args:
        model: a Keras model with one input and logits as output.
        variant: one of `VARIANTS`.
        representative: for `int8`, an array of inputs (a few hundred) to calibrate ranges on.

    Returns:
        The flatbuffer, as bytes.
    """
    # Keras 3 models hold resource variables that the converter's calibrator cannot read:
    # freeze them into constants first.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if variant not in VARIANTS:
        raise ValueError(f"unknown LiteRT variant {variant!r}; known: {', '.join(VARIANTS)}")
    spec = tf.TensorSpec((None, *model.input.shape[1:]), model.input.dtype or tf.float32, name="inputs")
    fn = tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(fn)])
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "int8":
        if representative is None or not len(representative):
            raise ValueError("the int8 variant needs representative inputs to calibrate on")
        samples = np.asarray(representative)
        converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


class LiteModel:
    """A `.tflite` logits model, called like `model.predict` on a batch of any size.

    Args:
        path_or_bytes: a `.tflite` file or its contents.
        threads: interpreter threads (None: the interpreter's default).
    """

    def __init__(self, path_or_bytes, threads=None):
        cls, self.package = interpreter_class()
        kwargs = {"num_threads": threads} if threads else {}
        if isinstance(path_or_bytes, (bytes, bytearray)):
            self.interpreter = cls(model_content=bytes(path_or_bytes), **kwargs)
        else:
            self.interpreter = cls(model_path=str(path_or_bytes), **kwargs)
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._batch = None

    @property
    def input_shape(self):
        return tuple(int(d) for d in self._input["shape_signature"][1:])

    @property
    def input_dtype(self):
        return self._input["dtype"]

    def __call__(self, inputs):
        """Logits `[batch, classes]` (float32) of `inputs` `[batch, ...]`."""
        inputs = np.asarray(inputs, self.input_dtype)
        if self._batch != len(inputs):
            self.interpreter.resize_tensor_input(self._input["index"], list(inputs.shape))
            self.interpreter.allocate_tensors()
            self._batch = len(inputs)
        self.interpreter.set_tensor(self._input["index"], inputs)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self._output["index"]), np.float32)

    def predict(self, inputs, batch_size=256):
        """Logits of any number of inputs, `batch_size` at a time."""
        inputs = np.asarray(inputs)
        return np.concatenate([self(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
                              or [np.zeros((0, self._output["shape_signature"][-1]), np.float32)])


def flag(keras_accuracy, variant_accuracy, points=FLAG_POINTS):
    """True when the variant's accuracy is more than `points` percentage points below the Keras model's."""
    return round((keras_accuracy - variant_accuracy) * 100, 6) > points  # rounded: 0.80 - 0.79 is 1.0000000000000009
