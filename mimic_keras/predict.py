"""Classify files with an exported model: `python -m mimic_keras.predict MODEL INPUTS...`.

MODEL is a SavedModel version folder (`saved_models/<name>/<version>`), a served model's
folder (`saved_models/<name>`: its newest version), a `.tflite` file of an export
(`<version>/litert/<variant>.tflite`) or a run's workdir (its exported mimic). What decoding
needs comes from the export's metadata (`mimic_keras.export_versions.METADATA`): class names and input
shape; for TIMIT the normalisation, context and the decoder (phone HMM, tuned LM weight and
insertion penalty).

INPUTS are image files, folders or tars of images (image exports), or WAV / SPHERE files or
folders (TIMIT exports). One JSON line per input on stdout:

    {"input": "cat.jpg", "class": "cat", "probability": 0.91}          # --top 3 adds "top"
    {"input": "SA1.WAV", "phones": "sil sh iy hh ae z ..."}

An input that cannot be decoded gets one line on stderr naming it; the others go on, and the
exit status is 1 at the end.
"""

import argparse
import json
import os
import sys
import tarfile

import numpy as np

from mimic_keras import console

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
AUDIO_EXTENSIONS = (".wav", ".sph", ".nist")
TAR_EXTENSIONS = (".tar", ".tar.gz", ".tgz")
PROGRESS_EVERY = 50


class InputError(ValueError):
    """An input that cannot be read or decoded; the message names it."""


def resolve(model_path):
    """(version folder, `.tflite` file or None) of a MODEL argument.

    Raises:
        FileNotFoundError: a path that is none of the accepted kinds.
    """
    from mimic_keras.export_versions import newest_version

    path = os.path.normpath(model_path)
    if os.path.isfile(path) and path.endswith(".tflite"):
        return os.path.dirname(os.path.dirname(path)), path
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path, None
    if os.path.isfile(os.path.join(path, "export.json")):
        with open(os.path.join(path, "export.json")) as f:
            return json.load(f)["mimic"], None
    newest = newest_version(path) if os.path.isdir(path) else None
    if newest and os.path.isfile(os.path.join(newest, "saved_model.pb")):
        return newest, None
    raise FileNotFoundError(
        f"{model_path}: not an export (a SavedModel version folder, a served model's folder, a .tflite file) "
        "nor a workdir with export.json"
    )


class Predictor:
    """An exported model and its metadata, ready to classify.

    Args:
        model_path: any MODEL argument (see the module docstring).

    Example:
    ```python
    predictor = Predictor("saved_models/cifar10-quick/1")
    predictor.classify_images(np.zeros([1, 32, 32, 3], np.uint8))  # probabilities [1, 10]
    ```
    """

    def __init__(self, model_path):
        from mimic_keras.export_versions import read_metadata

        self.version_dir, tflite = resolve(model_path)
        self.metadata = read_metadata(self.version_dir)
        if not self.metadata:
            raise FileNotFoundError(f"{self.version_dir}: no assets/mimic_keras.json; re-export it with this version")
        self.task = self.metadata["task"]
        if tflite:
            from mimic_keras.litert import LiteModel

            self._lite, self._signatures = LiteModel(tflite), None
        else:
            import tensorflow as tf

            self._lite, self._signatures = None, tf.saved_model.load(self.version_dir).signatures

    def classify_images(self, images):
        """Class probabilities `[N, classes]` of uint8 images `[N, H, W, C]` of the export's shape."""
        if self._lite is not None:
            return _softmax(self._lite(images))
        return self._signatures["serving_default"](images=images)["probabilities"].numpy()

    def utterance_logits(self, features):
        """Frame logits `[T, states]` of one utterance's raw features `[T, 123]`."""
        if self._lite is not None:
            from mimic_keras.data import timit

            norm = self.metadata["normalization"]
            normalised = (features - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"], np.float32)
            return self._lite(timit.context_windows(normalised, self.metadata["context"]).numpy())
        return self._signatures["serving_utterance"](features=features)["logits"].numpy()

    def decode_audio(self, waveform):
        """The 39-phone transcript (a list of symbols) of float32 16 kHz samples."""
        from mimic_keras.data.features import compute_features
        from mimic_keras.eval.hmm import decode_phones, decoder_from_state

        if self.metadata.get("decoder") is None:
            raise ValueError(f"{self.version_dir}: the export holds no decoder (exported before evaluate tuned one)")
        features = compute_features(np.asarray(waveform, np.float32)).numpy()
        return decode_phones(self.utterance_logits(features), *decoder_from_state(self.metadata["decoder"]))


def _softmax(logits):
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _is_tar(path):
    return path.lower().endswith(TAR_EXTENSIONS)


def expand_inputs(paths, extensions):
    """(name, opener) of each input: files as given, folders walked (sorted), tars' members.

    `opener()` returns the file's bytes, or for a plain file its path.
    """
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name.lower().endswith(extensions) or (_is_tar(name) and extensions == IMAGE_EXTENSIONS):
                        yield from expand_inputs([os.path.join(root, name)], extensions)
        elif _is_tar(path) and extensions == IMAGE_EXTENSIONS:
            yield from _tar_members(path)
        else:
            yield path, lambda p=path: p


def _tar_members(path):
    try:
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(IMAGE_EXTENSIONS)]
            for m in sorted(members, key=lambda m: m.name):
                yield f"{path}/{m.name}", lambda data=tar.extractfile(m).read(): data
    except (tarfile.TarError, OSError) as e:
        yield path, lambda e=e: _raise(InputError(f"not a readable tar ({e})"))


def _raise(error):
    raise error


def read_image(source, shape):
    """A uint8 image `[H, W, C]` of `shape` from a path or bytes (resized when it is another size)."""
    import tensorflow as tf

    try:
        data = source if isinstance(source, bytes) else tf.io.read_file(source)
        image = tf.io.decode_image(data, channels=shape[-1], expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as e:
        reason = e.message.split("}} ")[-1].split(" [Op:")[0]
        raise InputError(f"cannot decode image ({reason})") from None
    if tuple(image.shape[:2]) != tuple(shape[:2]):
        image = tf.image.resize(image, shape[:2], antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image.numpy()


def _image_lines(predictor, inputs, top):
    names = predictor.metadata["class_names"]
    for name, source in inputs:
        image = read_image(source(), predictor.metadata["input_shape"])
        probs = predictor.classify_images(image[None])[0]
        best = np.argsort(-probs)[:top]
        line = {"input": name, "class": names[best[0]], "probability": round(float(probs[best[0]]), 6)}
        if top > 1:
            line["top"] = [{"class": names[i], "probability": round(float(probs[i]), 6)} for i in best]
        yield line


def _audio_lines(predictor, inputs):
    from mimic_keras.data.sphere import AudioFormatError, read_audio

    for name, source in inputs:
        try:
            samples, _ = read_audio(source())
        except AudioFormatError as e:
            raise InputError(str(e).removeprefix(f"{name}: ")) from None
        if len(samples) < 400:
            raise InputError("shorter than one 25 ms frame")
        yield {"input": name, "phones": " ".join(predictor.decode_audio(samples))}


def predict(model, inputs, top=1, out=None, err=None):
    """Writes one JSON line per input to `out` (stdout); returns the number of inputs that failed."""
    out, err = out or sys.stdout, err or sys.stderr
    predictor = Predictor(model)
    audio = predictor.task == "timit"
    items = list(expand_inputs(inputs, AUDIO_EXTENSIONS if audio else IMAGE_EXTENSIONS))
    failed = 0
    for i, item in enumerate(items, 1):
        try:
            for line in (_audio_lines(predictor, [item]) if audio else _image_lines(predictor, [item], top)):
                print(json.dumps(line), file=out, flush=True)
        except (InputError, OSError, ValueError) as e:
            failed += 1
            print(f"error: {item[0]}: {e}", file=err, flush=True)
        if len(items) > PROGRESS_EVERY and (i % PROGRESS_EVERY == 0 or i == len(items)):
            print(f"[predict] {i}/{len(items)} inputs", file=err, flush=True)
    if not items:
        print("error: no inputs found in " + " ".join(inputs), file=err)
        return 1
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mimic_keras.predict", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a SavedModel version folder, a served model's folder, a .tflite file or a workdir")
    parser.add_argument("inputs", nargs="+", help="image files, folders or tars; WAV/SPHERE files or folders (TIMIT)")
    parser.add_argument("--top", type=int, default=1, help="also list the K most probable classes (images)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines and library warnings")
    args = parser.parse_args(argv)
    console.quiet(args.verbose)  # before TensorFlow is imported
    try:
        failed = predict(args.model, args.inputs, top=max(1, args.top))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
