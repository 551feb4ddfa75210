"""The two official CIFAR-10 releases: pickled python batches and raw binary batches.

    python   cifar-10-python.tar.gz or cifar-10-batches-py/ (pickled batches)
    binary   cifar-10-binary.tar.gz or cifar-10-batches-bin/ (1 label byte + 3072 CHW bytes)

Both give ids `train/data_batch_1/00042`, so the same image gets the same id in either. The
pickles are read by `BatchUnpickler`, which refuses every global but numpy's array builders:
a crafted batch cannot run code.
"""

import io
import pickle
import posixpath

import numpy as np

from mimic_keras.data.cifar10 import CLASSES
from pipelines.cifar10_sources import PIXELS, TEST_BATCH, TRAIN_BATCHES, Example, SourceError, first_line


def _latin1_encode(text, encoding):
    # Python 3 writes bytes at pickle protocol 2 as `_codecs.encode(str, "latin1")`.
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_core():
    """numpy's core modules: `numpy._core` on NumPy 2, `numpy.core` on 1.x (the tfio lane)."""
    try:
        from numpy._core import multiarray, numeric
    except (ImportError, AttributeError):
        from numpy.core import multiarray, numeric
    return multiarray, numeric


def _allowed_globals():
    multiarray, numeric = _numpy_core()
    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches: numpy arrays, dicts, lists and bytes; refuses every other global.

    Example:
        batch = BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    """

    ALLOWED = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name} (CIFAR batches hold only numpy arrays, "
                "dicts, lists and bytes)"
            ) from None


def _unpickle(data, where):
    try:
        batch = BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:  # pickle raises many types on bad input; none of them run code here
        raise SourceError(f"{where}: not a CIFAR-10 python batch ({type(e).__name__}: {first_line(e)})") from None
    if not isinstance(batch, dict):
        raise SourceError(f"{where}: not a CIFAR-10 python batch (a {type(batch).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _check_labels(labels, where):
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise SourceError(f"{where}: labels are not a list of integers")
    bad = np.flatnonzero((labels < 0) | (labels >= len(CLASSES)))
    if bad.size:
        raise SourceError(
            f"{where}: label {int(labels[bad[0]])} at index {bad[0]} is out of range 0..{len(CLASSES) - 1}"
        )
    return labels


def _batch_dir(tree, marker, form):
    dirs = sorted({posixpath.dirname(n) for n in tree.names if posixpath.basename(n) == marker})
    if not dirs:
        raise SourceError(f"{tree.where}: no {marker} found; not a CIFAR-10 {form} release")
    if len(dirs) > 1:
        raise SourceError(f"{tree.where}: several folders hold {marker}: {dirs}")
    return dirs[0] + "/" if dirs[0] else ""


def _check_class_names(names, where):
    if list(names) != list(CLASSES):
        raise SourceError(f"{where}: class names {list(names)} differ from CIFAR-10's {list(CLASSES)}")


def read_python(tree):
    """Examples of `cifar-10-batches-py` (data_batch_1..5, test_batch), in batch order."""
    prefix = _batch_dir(tree, TRAIN_BATCHES[0], "python")
    if prefix + "batches.meta" in tree:
        meta = _unpickle(tree.read(prefix + "batches.meta"), tree.where_of(prefix + "batches.meta"))
        _check_class_names([n.decode() if isinstance(n, bytes) else n for n in meta.get("label_names", [])],
                           tree.where_of(prefix + "batches.meta"))
    splits = {"train": [], "test": []}
    for split, batches in (("train", TRAIN_BATCHES), ("test", (TEST_BATCH,))):
        for batch_name in batches:
            name = prefix + batch_name
            where = tree.where_of(name)
            if name not in tree:
                raise SourceError(f"{tree.where}: missing {name}")
            batch = _unpickle(tree.read(name), where)
            if "data" not in batch or "labels" not in batch:
                raise SourceError(f"{where}: not a CIFAR-10 python batch (no data/labels; keys {sorted(batch)})")
            data = batch["data"]
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
                shape = getattr(data, "shape", None)
                raise SourceError(f"{where}: data is {type(data).__name__} {shape}, expected uint8 (N, {PIXELS})")
            labels = _check_labels(batch["labels"], where)
            if len(labels) != len(data):
                raise SourceError(f"{where}: {len(labels)} labels for {len(data)} images")
            splits[split] += _pixel_examples(split, batch_name, data, labels, where)
    return splits


def _pixel_examples(split, batch_name, data, labels, where):
    # Both official releases store each image as three 32x32 planes (R, G, B): CHW.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return [
        Example(f"{split}/{batch_name}/{i:05d}", int(label), f"{where}[{i}]", pixels=image)
        for i, (image, label) in enumerate(zip(images, labels))
    ]


# --- official binary release -------------------------------------------------------------------


def read_binary(tree):
    """Examples of `cifar-10-batches-bin` (data_batch_1..5.bin, test_batch.bin), in batch order."""
    prefix = _batch_dir(tree, TRAIN_BATCHES[0] + ".bin", "binary")
    if prefix + "batches.meta.txt" in tree:
        names = [n.strip() for n in tree.read(prefix + "batches.meta.txt").decode("utf-8", "replace").splitlines()]
        _check_class_names([n for n in names if n], tree.where_of(prefix + "batches.meta.txt"))
    splits = {"train": [], "test": []}
    for split, batches in (("train", TRAIN_BATCHES), ("test", (TEST_BATCH,))):
        for batch_name in batches:
            name = f"{prefix}{batch_name}.bin"
            where = tree.where_of(name)
            if name not in tree:
                raise SourceError(f"{tree.where}: missing {name}")
            raw = np.frombuffer(tree.read(name), np.uint8)
            if raw.size == 0 or raw.size % (PIXELS + 1):
                raise SourceError(
                    f"{where}: size {raw.size} bytes is not a positive multiple of {PIXELS + 1} "
                    "(1 label byte + 3072 pixel bytes per record)"
                )
            records = raw.reshape(-1, PIXELS + 1)
            labels = _check_labels(records[:, 0].astype(np.int64), where)
            splits[split] += _pixel_examples(split, batch_name, records[:, 1:], labels, where)
    return splits
