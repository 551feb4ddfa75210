"""Export trained models as SavedModels in TF Serving's layout: `<base>/<name>/<version>/`.

Only the model given is exported: for a mimic that is the student alone, never its teacher.
Signatures of an image classifier (`export_image_classifier`):

* `serving_default`: `images` uint8 [batch, H, W, C] → `logits`, `probabilities` [batch, classes]
  and `classes` (int64 argmax).
* `serving_examples`: `examples`, a string [batch] of serialized `tf.train.Example`s with the
  `image` feature of the TFRecord spec (`mimic_keras.data.records`) → the same outputs. This is
  what TF Serving's predict clients send when they post Examples.
"""

import os
import shutil

import keras
import tensorflow as tf

from mimic_keras import timit_layout
from mimic_keras.data import records


def next_version(model_dir):
    """1 + the highest integer version folder under `model_dir` (1 when there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def _outputs(logits):
    logits = tf.cast(logits, tf.float32)
    return {
        "logits": logits,
        "probabilities": tf.nn.softmax(logits, axis=-1),
        "classes": tf.argmax(logits, axis=-1),
    }


def export_archive(archive, base_dir, name, version=None):
    """Writes an `ExportArchive` to `<base_dir>/<name>/<version>` atomically; returns the path."""
    model_dir = os.path.join(base_dir, name)
    version = next_version(model_dir) if version is None else int(version)
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists; TF Serving versions are immutable, pick another version")
    os.makedirs(model_dir, exist_ok=True)
    tmp = os.path.join(model_dir, f".{version}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive.write_out(tmp, verbose=False)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def export_image_classifier(model, base_dir="saved_models", name="mimic", version=None):
    """Exports a uint8-image → logits Keras model with the two serving signatures above.

    Args:
        model: a Keras model taking uint8 images [batch, H, W, C] and returning logits.
        base_dir: the TF Serving model base folder.
        name: model name (a folder under `base_dir`).
        version: integer version; default: one above the highest existing.

    Returns:
        The folder written, `<base_dir>/<name>/<version>`.

    Example:
    ```python
    path = export_image_classifier(mimic, "saved_models", "cifar10-mimic")
    served = tf.saved_model.load(path).signatures["serving_default"]
    served(images=tf.zeros([1, 32, 32, 3], tf.uint8))["probabilities"]
    ```
    """
    image_shape = tuple(model.input.shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(images):
        return _outputs(model(images, training=False))

    def serve_examples(examples):
        parsed = tf.io.parse_example(examples, {"image": records.IMAGE_FEATURES["image"]})
        images = tf.map_fn(
            lambda encoded: records.decode_image(encoded, image_shape),
            parsed["image"],
            fn_output_signature=tf.TensorSpec(image_shape, tf.uint8),
        )
        return serve(images)

    archive.add_endpoint(
        "serving_default", serve, input_signature=[tf.TensorSpec((None, *image_shape), tf.uint8, name="images")]
    )
    archive.add_endpoint(
        "serving_examples", serve_examples, input_signature=[tf.TensorSpec((None,), tf.string, name="examples")]
    )
    return export_archive(archive, base_dir, name, version)


def export_frame_classifier(model, base_dir="saved_models", name="timit-mimic", version=None, normalization=None,
                            context=timit_layout.CONTEXT):
    """Exports a TIMIT frame classifier (context windows → state logits) for TF Serving.

    Signatures:

    * `serving_default`: `frames` float32 `[batch, (2c+1) × 123]` normalised context windows
      (as `mimic_keras.data.timit.frame_pipeline` makes them) → `logits`, `probabilities`
      (state posteriors) `[batch, 183]` and `classes` (int64 argmax state).
    * `serving_utterance`: `features` float32 `[T, 123]`, one utterance's filterbank features
      (`mimic_keras.data.features.compute_features`) → the same outputs `[T, ...]`, one row
      per frame; the ±c-frame windows (edge frames replicated) are cut inside. With
      `normalization`, features are raw and normalised inside with those statistics;
      without, they must be normalised already.

    Args:
        model: a Keras model taking `[batch, (2c+1) × 123]` windows and returning logits.
        base_dir: the TF Serving model base folder.
        name: model name (a folder under `base_dir`).
        version: integer version; default: one above the highest existing.
        normalization: optional `(mean, std)`, float `[123]` each: the training statistics
            (`mimic_keras.data.timit.normalization(data_dir)`).
        context: frames on each side of the classified one.

    Returns:
        The folder written, `<base_dir>/<name>/<version>`.

    Example:
    ```python
    path = export_frame_classifier(mimic, "saved_models", "timit-mimic",
                                   normalization=timit.normalization("cache/timit"))
    served = tf.saved_model.load(path).signatures["serving_utterance"]
    served(features=tf.zeros([200, 123]))["probabilities"]  # [200, 183]
    ```
    """
    from mimic_keras.data import timit

    feature_dim = timit_layout.FEATURE_DIM
    input_dim = timit_layout.input_dim(context)
    if tuple(model.input.shape[1:]) != (input_dim,):
        raise ValueError(
            f"model takes {tuple(model.input.shape[1:])} inputs, not ({input_dim},) windows of ±{context} frames"
        )
    archive = keras.export.ExportArchive()
    archive.track(model)
    if normalization is not None:
        mean, std = (tf.constant(v, tf.float32, shape=[feature_dim]) for v in normalization)
    else:
        mean, std = tf.zeros([feature_dim]), tf.ones([feature_dim])

    def serve(frames):
        return _outputs(model(frames, training=False))

    def serve_utterance(features):
        return serve(timit.context_windows((features - mean) / std, context))

    archive.add_endpoint(
        "serving_default", serve, input_signature=[tf.TensorSpec((None, input_dim), tf.float32, name="frames")]
    )
    archive.add_endpoint(
        "serving_utterance", serve_utterance,
        input_signature=[tf.TensorSpec((None, feature_dim), tf.float32, name="features")],
    )
    return export_archive(archive, base_dir, name, version)
