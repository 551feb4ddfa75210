"""Export trained models as SavedModels in TF Serving's layout: `<base>/<name>/<version>/`.

Only the model given is exported: for a mimic that is the student alone, never its teacher.
Signatures of an image classifier (`export_image_classifier`):

* `serving_default`: `images` uint8 [batch, H, W, C] → `logits`, `probabilities` [batch, classes]
  and `classes` (int64 argmax).
* `serving_examples`: `examples`, a string [batch] of serialized `tf.train.Example`s with the
  `image` feature of the TFRecord spec (`mimic_keras.data.records`) → the same outputs. This is
  what TF Serving's predict clients send when they post Examples.

Any other classifier of one fixed-shape input (feature vectors, ...; `export_classifier`) gets
`serving_default` alone: its input, of the model's shape and dtype, → the same outputs.

Everything a client needs to use an export travels inside it: `assets/mimic_keras.json`
(`METADATA`) holds the task, the class names, the input shape, for TIMIT the normalisation
and the decoder's statistics, and the export's `fingerprint`; `litert/<variant>.tflite` the
LiteRT variants asked for. A version is written only when its fingerprint differs from the
newest version's (an unchanged model is not served again under a new number), and is renamed
into place whole.
"""

import json
import os
import shutil

import numpy as np

import keras
import tensorflow as tf

from mimic_keras import timit_layout
from mimic_keras.data import records
from mimic_keras.export_versions import METADATA, fingerprint, next_version, unchanged


def _outputs(logits):
    logits = tf.cast(logits, tf.float32)
    return {
        "logits": logits,
        "probabilities": tf.nn.softmax(logits, axis=-1),
        "classes": tf.argmax(logits, axis=-1),
    }


def export_archive(archive, base_dir, name, version=None, metadata=None, files=None):
    """Writes an `ExportArchive` to `<base_dir>/<name>/<version>` atomically; returns the path.

    Args:
        archive: the `keras.export.ExportArchive`.
        base_dir, name, version: where; `version` None takes the next free one.
        metadata: written to `METADATA` inside the version folder.
        files: {relative path: bytes} written inside the version folder too (LiteRT files).
    """
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
        extra = dict(files or {})
        if metadata is not None:
            extra[METADATA] = json.dumps(metadata, indent=1).encode()
        for rel, content in extra.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write(model, build_archive, base_dir, name, version, metadata, tflite, representative, files=None):
    metadata = {**metadata, "tflite": list(tflite)}
    fp = fingerprint(model, metadata)
    if version is None:
        same = unchanged(base_dir, name, fp)
        if same:
            return same
    from mimic_keras import litert

    files = {**(files or {}), **{f"litert/{v}.tflite": litert.convert(model, v, representative) for v in tflite}}
    return export_archive(build_archive(), base_dir, name, version, {**metadata, "fingerprint": fp}, files)


def export_image_classifier(model, base_dir="saved_models", name="mimic", version=None, class_names=None,
                            tflite=(), representative=None):
    """Exports a uint8-image → logits Keras model with the two serving signatures above.

    Args:
        model: a Keras model taking uint8 images [batch, H, W, C] and returning logits.
        base_dir: the TF Serving model base folder.
        name: model name (a folder under `base_dir`).
        version: integer version; default: one above the highest existing, or the newest
            itself when it holds this very model (nothing is written then).
        class_names: the names of the classes, in logit order (kept in the metadata, and one per
            line in `assets.extra/classes.txt`).
        tflite: LiteRT variants to write beside it (`mimic_keras.litert.VARIANTS`).
        representative: uint8 images to calibrate the `int8` variant on.

    Returns:
        The version folder, `<base_dir>/<name>/<version>`.

    Example:
    ```python
    path = export_image_classifier(mimic, "saved_models", "cifar10-mimic")
    served = tf.saved_model.load(path).signatures["serving_default"]
    served(images=tf.zeros([1, 32, 32, 3], tf.uint8))["probabilities"]
    ```
    """
    image_shape = tuple(model.input.shape[1:])
    names, files = _class_names(model, class_names)
    metadata = {"task": "image", "input_shape": list(image_shape), "class_names": names}
    return _write(model, lambda: _image_archive(model, image_shape), base_dir, name, version, metadata, tflite,
                  representative, files)


def _class_names(model, class_names):
    """(names in logit order, {`assets.extra/classes.txt`: one name a line}); default names "0", "1", ..."""
    names = list(class_names) if class_names else [str(i) for i in range(int(model.output.shape[-1]))]
    return names, {os.path.join("assets.extra", "classes.txt"): "".join(f"{c}\n" for c in names).encode()}


def export_classifier(model, base_dir="saved_models", name="model", version=None, class_names=None, tflite=(),
                      representative=None, input_name="inputs"):
    """Exports a Keras classifier of one fixed-shape input (feature vectors, ...) → logits.

    Its `serving_default` takes `input_name`, `[batch, *shape]` of the model's input dtype, and
    gives `logits`, `probabilities` and `classes`, as the image classifier's does.

    Args:
        model: a Keras model with one input, returning logits.
        base_dir, name, version, class_names, tflite: as for `export_image_classifier`.
        representative: model inputs to calibrate the `int8` variant on.
        input_name: the signature's input name.

    Returns:
        The version folder, `<base_dir>/<name>/<version>`.
    """
    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), model.inputs[0].dtype, name=input_name)
    names, files = _class_names(model, class_names)
    metadata = {"task": "classifier", "input_shape": list(spec.shape[1:]), "input_name": input_name,
                "class_names": names}

    def build_archive():
        archive = keras.export.ExportArchive()
        archive.track(model)

        def serve(inputs):
            return _outputs(model(inputs, training=False))

        archive.add_endpoint("serving_default", serve, input_signature=[spec])
        return archive

    return _write(model, build_archive, base_dir, name, version, metadata, tflite, representative, files)


def _image_archive(model, image_shape):
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
    return archive


def export_frame_classifier(model, base_dir="saved_models", name="timit-mimic", version=None, normalization=None,
                            context=timit_layout.CONTEXT, decoder=None, tflite=(), representative=None):
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
        decoder: optional `mimic_keras.eval.hmm.decoder_state(...)`: the phone HMM and the LM
            weight and insertion penalty tuned for this model, kept in the metadata for
            `mimic_keras.predict` to decode utterances with.
        tflite: LiteRT variants (of the frame classifier) to write beside it.
        representative: normalised windows to calibrate the `int8` variant on.

    Returns:
        The version folder, `<base_dir>/<name>/<version>`.

    Example:
    ```python
    path = export_frame_classifier(mimic, "saved_models", "timit-mimic",
                                   normalization=timit.normalization("cache/timit"))
    served = tf.saved_model.load(path).signatures["serving_utterance"]
    served(features=tf.zeros([200, 123]))["probabilities"]  # [200, 183]
    ```
    """
    feature_dim = timit_layout.FEATURE_DIM
    input_dim = timit_layout.input_dim(context)
    if tuple(model.input.shape[1:]) != (input_dim,):
        raise ValueError(
            f"model takes {tuple(model.input.shape[1:])} inputs, not ({input_dim},) windows of ±{context} frames"
        )
    if normalization is None:
        normalization = (np.zeros(feature_dim), np.ones(feature_dim))
    metadata = {"task": "timit", "input_shape": [input_dim], "context": int(context),
                "normalization": {"mean": np.asarray(normalization[0], float).tolist(),
                                  "std": np.asarray(normalization[1], float).tolist()},
                "decoder": decoder}
    return _write(model, lambda: _frame_archive(model, normalization, context), base_dir, name, version, metadata,
                  tflite, representative)


def _frame_archive(model, normalization, context):
    from mimic_keras.data import timit

    feature_dim, input_dim = timit_layout.FEATURE_DIM, timit_layout.input_dim(context)
    archive = keras.export.ExportArchive()
    archive.track(model)
    mean, std = (tf.constant(v, tf.float32, shape=[feature_dim]) for v in normalization)

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
    return archive
