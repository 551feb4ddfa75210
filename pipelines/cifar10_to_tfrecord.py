"""Convert CIFAR-10, in any form it comes in, into sharded image TFRecords with a manifest.

    python -m pipelines.cifar10_to_tfrecord --source SRC --out DIR [--format F] [--unlabelled PATH]
        [--limit N] [--shards N] [--val-size N] [--resize] [--force]

SRC is `tfds` (default), an official release (`cifar-10-python.tar.gz`, `cifar-10-batches-py/`,
`cifar-10-binary.tar.gz`, `cifar-10-batches-bin/`) or a `train/<class>/`, `test/<class>/` image
tree as a folder or tar; `pipelines/cifar10_sources.py` reads them all. Writes the splits
`train`, `validation` (carved from train), `test` and, with `--unlabelled`, `unlabelled`
(label -1), then `manifest.json`.

Images: raw pixels (official releases, TFDS) become lossless PNG; JPEG/PNG files that already
are 32x32 RGB keep their own bytes (decoded once to check the shape).

Determinism, all from stable ids, never from file-system or RNG order:
- validation: stratified by class; each class gives its share of `val_size` (largest
  remainder), taking the ids with the smallest sha256("validation:" + id);
- record order within a split: by sha256("order:" + id), as TFDS does, so class-sorted trees
  come out mixed (a 10k shuffle buffer over class-sorted records would see few classes) and
  `--limit N` keeps a class-mixed first N. The validation set does not depend on `--limit`.

The whole output is built in a hidden sibling folder and renamed into place, so DIR is either
absent, the previous output, or complete; a rerun with the same inputs and options does nothing.
"""

import os

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import collections  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mimic_keras.data import records, writer  # noqa: E402
from mimic_keras.data.cifar10 import CLASSES, IMAGE_SHAPE  # noqa: E402
from pipelines import cifar10_sources as sources  # noqa: E402
from pipelines.cifar10_sources import ConversionError, SourceError  # noqa: E402

VERSION = 1  # bump when the same inputs would give different records
RECORDS_PER_SHARD = 8192
_MAGIC = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"), (b"BM", "bmp"))


class OutputError(ConversionError):
    """The output folder holds something this run must not silently replace."""


def _hash(salt, example_id):
    return hashlib.sha256(f"{salt}:{example_id}".encode()).digest()


def carve_validation(train, val_size):
    """Splits `train` into (train, validation), stratified by class, by hashed id.

    Args:
        train: list of `Example`s.
        val_size: number of validation examples (0 for none).

    Returns:
        `(train, validation)`, each in the input order.
    """
    if val_size == 0:
        return list(train), []
    if val_size >= len(train):
        raise ConversionError(f"--val-size {val_size} leaves no training images (train has {len(train)})")
    by_class = collections.defaultdict(list)
    for example in train:
        by_class[example.label].append(example.id)
    exact = {c: val_size * len(ids) / len(train) for c, ids in by_class.items()}
    quota = {c: int(x) for c, x in exact.items()}
    by_remainder = sorted(exact, key=lambda c: (-(exact[c] - quota[c]), c))
    for c in by_remainder[: val_size - sum(quota.values())]:
        quota[c] += 1
    chosen = set()
    for c, ids in by_class.items():
        chosen.update(sorted(ids, key=lambda i: _hash("validation", i))[: quota[c]])
    return [e for e in train if e.id not in chosen], [e for e in train if e.id in chosen]


def default_shards(count):
    """A power of two giving at most about `RECORDS_PER_SHARD` records per shard."""
    shards = 1
    while shards * RECORDS_PER_SHARD < count and shards < 1024:
        shards *= 2
    return shards


def _to_rgb(image):
    channels = image.shape[-1]
    if channels in (1, 2):  # grey, grey + alpha
        return tf.image.grayscale_to_rgb(image[..., :1])
    return image[..., :3]  # drops alpha


def encode(example, resize=False):
    """The record's image bytes and their encoding (`png`, `jpeg`), checked to be 32x32 RGB."""
    if example.pixels is not None:
        if example.pixels.shape != IMAGE_SHAPE:
            raise SourceError(f"{example.where}: pixels of shape {example.pixels.shape}, expected {IMAGE_SHAPE}")
        return tf.io.encode_png(example.pixels).numpy(), "png"
    data = example.encoded()
    kind = next((k for magic, k in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        raise SourceError(f"{example.where}: not a JPEG, PNG, GIF or BMP image")
    try:
        image = tf.io.decode_image(data, expand_animations=False)
    except tf.errors.OpError as e:
        raise SourceError(f"{example.where}: cannot decode {kind} ({sources.first_line(e.message)})") from None
    if tuple(image.shape) == IMAGE_SHAPE:
        if kind in ("jpeg", "png"):
            return data, kind
        return tf.io.encode_png(image).numpy(), "png"
    if not resize:
        h, w, c = image.shape
        raise SourceError(
            f"{example.where}: image is {h}x{w} with {c} channel(s), expected 32x32 RGB (--resize converts)"
        )
    image = tf.image.resize(_to_rgb(image), IMAGE_SHAPE[:2], method="bilinear", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.io.encode_png(image).numpy(), "png"


def _write_split(out_dir, split, examples, num_shards, resize, verbose):
    encodings, labels = collections.Counter(), collections.Counter()
    # Progbar prints to stdout; in a log file (not a terminal) one line per split reads best.
    mode = (1 if sys.stdout.isatty() else 2) if verbose else 0
    progress = keras.utils.Progbar(len(examples), unit_name="image", verbose=mode)

    def serialized():
        for i, example in enumerate(examples, 1):
            data, kind = encode(example, resize)
            encodings[kind] += 1
            labels[example.label] += 1
            yield records.image_example(data, example.label, example.id)
            if i % 500 == 0 or i == len(examples):
                progress.update(i)

    if verbose:
        print(f"{split}: {len(examples)} images into {num_shards} shard(s)", file=sys.stderr)
    shards = writer.write_shards(out_dir, split, serialized(), num_shards)
    class_counts = {name: labels[i] for i, name in enumerate(CLASSES)} if split != "unlabelled" else {}
    return {"count": len(examples), "class_counts": class_counts, "image_encodings": dict(encodings), "shards": shards}


def _check_replaceable(out_dir, fingerprint, options, force):
    if force or not os.path.lexists(out_dir) or (os.path.isdir(out_dir) and not os.listdir(out_dir)):
        return
    try:
        old = writer.read_manifest(out_dir)
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        raise OutputError(f"{out_dir}: exists and is not a finished conversion; pass --force to replace it") from None
    if old.get("fingerprint") == fingerprint:
        raise OutputError(f"{out_dir}: a shard listed in its manifest is missing; pass --force to redo it")
    changed = [k for k in options if old.get("options", {}).get(k) != options[k]]
    why = f"options {', '.join(changed)} differ" if changed else "the source changed"
    raise OutputError(f"{out_dir}: holds a conversion of other inputs ({why}); pass --force to replace it")


def _remove_stale_builds(parent, base):
    # A killed run leaves `.<base>.tmp-<pid>-*`: harmless (hidden, no manifest) but big.
    for name in os.listdir(parent):
        if name.startswith(f".{base}.tmp-"):
            pid = name[len(f".{base}.tmp-"):].split("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _move_into_place(build, out_dir):
    parent, base = os.path.split(out_dir)
    old = None
    if os.path.isdir(out_dir) and not os.path.islink(out_dir) and not os.listdir(out_dir):
        os.rmdir(out_dir)
    elif os.path.lexists(out_dir):
        old = tempfile.mkdtemp(prefix=f".{base}.old-", dir=parent)
        os.rmdir(old)
        os.rename(out_dir, old)
    os.rename(build, out_dir)
    fd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old is not None:
        shutil.rmtree(old) if os.path.isdir(old) and not os.path.islink(old) else os.remove(old)


def convert(source, out_dir, *, fmt=None, unlabelled=None, limit=None, shards=None, val_size=5000,
            resize=False, force=False, verbose=True):
    """Converts CIFAR-10 from `source` into TFRecord shards and a manifest under `out_dir`.

    Args:
        source: `"tfds"`, or a path to an official release or an image tree (folder or tar).
        out_dir: output folder; replaced as a whole, only with `force` if it holds other data.
        fmt: `tfds`, `python`, `binary` or `folder`; None detects it.
        unlabelled: optional folder or tar of images for an `unlabelled` split (label -1).
        limit: keep at most this many examples per written split (the first in record order).
        shards: shards per split (capped at the split's size); default `default_shards(count)`.
        val_size: validation examples carved from train (0: no validation split).
        resize: resize / convert images that are not 32x32 RGB instead of failing.
        force: replace an existing output made from other inputs or options.
        verbose: print progress to stderr.

    Returns:
        The manifest dict (the existing one when the output was already complete).

    Example:
        manifest = convert("cifar-10-python.tar.gz", "cache/cifar10", limit=1000)
    """
    source, out_dir = str(source), os.path.abspath(str(out_dir))
    for name, value, minimum in (("limit", limit, 1), ("shards", shards, 1), ("val_size", val_size, 0)):
        if value is not None and (not isinstance(value, int) or value < minimum):
            raise ConversionError(f"{name} must be an integer >= {minimum}, got {value!r}")
    for path in (source, unlabelled):
        if path is not None and path != "tfds" and not os.path.exists(path):
            raise SourceError(f"{path}: no such file or directory")
    options = {"format": fmt, "limit": limit, "shards": shards, "val_size": val_size, "resize": resize}
    fingerprint = hashlib.sha256(json.dumps({
        "converter": VERSION,
        "source": sources.identity(source),
        "unlabelled": sources.identity(str(unlabelled)) if unlabelled is not None else None,
        "options": options,
    }, sort_keys=True).encode()).hexdigest()
    if not force and writer.is_complete(out_dir, fingerprint):
        print(f"{out_dir}: already converted from these inputs with these options; skipped")
        return writer.read_manifest(out_dir)
    _check_replaceable(out_dir, fingerprint, options, force)

    started = time.time()
    if verbose:
        print(f"reading {source}", file=sys.stderr)
    fmt_used, read = sources.read_labelled(source, fmt)
    train, validation = carve_validation(read["train"], val_size)
    plan = {"train": train, "validation": validation, "test": read["test"]}
    if unlabelled is not None:
        plan["unlabelled"] = sources.read_images(str(unlabelled))
    if not validation:
        del plan["validation"]
    plan = {split: sorted(exs, key=lambda e: _hash("order", e.id))[:limit] for split, exs in plan.items()}

    parent, base = os.path.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    _remove_stale_builds(parent, base)
    build = tempfile.mkdtemp(prefix=f".{base}.tmp-{os.getpid()}-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(build, 0o777 & ~umask)  # mkdtemp's 0700 would otherwise become the output's mode
    try:
        splits = {
            split: _write_split(build, split, exs, min(shards or default_shards(len(exs)), len(exs)), resize, verbose)
            for split, exs in plan.items()
        }
        kinds = sorted({k for s in splits.values() for k in s["image_encodings"]})
        manifest = {
            "dataset": "cifar10",
            "classes": list(CLASSES),
            "image_shape": list(IMAGE_SHAPE),
            "image_encoding": kinds[0] if len(kinds) == 1 else "mixed",
            "source": {
                "path": "tfds" if source == "tfds" else os.path.abspath(source),
                "format": fmt_used,
                "unlabelled": None if unlabelled is None else os.path.abspath(str(unlabelled)),
            },
            "fingerprint": fingerprint,
            "options": options,
            "validation": "stratified by class, smallest sha256('validation:' + id) per class",
            "record_order": "sha256('order:' + id)",
            "converter_version": VERSION,
            "seconds": round(time.time() - started, 1),
            "splits": splits,
        }
        writer.write_manifest(build, manifest)
        _move_into_place(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    if verbose:
        counts = ", ".join(f"{s} {v['count']}" for s, v in splits.items())
        print(f"{out_dir}: wrote {counts} ({manifest['image_encoding']}) in {manifest['seconds']} s")
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.cifar10_to_tfrecord", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--source", default="tfds",
                        help="tfds, an official release (tar.gz or folder), or an image tree (folder or tar)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--format", dest="fmt", choices=sources.FORMATS,
                        help="force the source form instead of detecting it")
    parser.add_argument("--unlabelled", help="folder or tar of extra images for an `unlabelled` split (label -1)")
    parser.add_argument("--limit", type=int, help="at most N examples per split")
    parser.add_argument("--shards", type=int, help="shards per split (default: ~8k records per shard, a power of two)")
    parser.add_argument("--val-size", type=int, default=5000,
                        help="validation examples carved from train (default 5000)")
    parser.add_argument("--resize", action="store_true", help="resize / convert images that are not 32x32 RGB")
    parser.add_argument("--force", action="store_true", help="replace an output made from other inputs or options")
    args = parser.parse_args(argv)
    try:
        convert(
            args.source, args.out, fmt=args.fmt, unlabelled=args.unlabelled, limit=args.limit,
            shards=args.shards, val_size=args.val_size, resize=args.resize, force=args.force,
        )
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
