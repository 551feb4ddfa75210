"""Readers for every form CIFAR-10 comes in, each yielding the same `Example`s.

Forms (`FORMATS`), detected by `read_labelled` unless forced:

    tfds     tensorflow_datasets' `cifar10` (prepared locally or downloaded; `cifar10_tfds.py`)
    python   cifar-10-python.tar.gz or cifar-10-batches-py/ (pickled batches)
    binary   cifar-10-binary.tar.gz or cifar-10-batches-bin/ (1 label byte + 3072 CHW bytes)
    folder   a class-per-folder tree `train/<class>/*`, `test/<class>/*`, as a folder or a tar,
             optionally under top-level folders

Ids are stable across runs and machines: `train/data_batch_1/00042` for both official releases
(the same image gets the same id in either), the path inside the tree for folders
(`train/cat/0042.jpg`), `train/<tfds id>` for TFDS. Nothing here decodes or writes images;
`pipelines/cifar10_to_tfrecord.py` does that. The official releases are read in
`cifar10_releases.py`, TFDS in `cifar10_tfds.py`; folders and tars are listed safely by
`source_trees.py` and read as CIFAR-10 here.
"""

import dataclasses
import hashlib
import os
import posixpath
import re
import sys
from typing import Callable

import numpy as np

from mimic_keras.data.cifar10 import CLASSES

FORMATS = ("tfds", "python", "binary", "folder")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
PIXELS = 32 * 32 * 3
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


from pipelines.source_trees import ConversionError, SourceError, first_line, open_tree  # noqa: F401  (re-exported)


@dataclasses.dataclass(frozen=True)
class Example:
    """One source image: raw `pixels` (32x32x3 uint8) or encoded `data` (bytes, or a callable)."""

    id: str
    label: int
    where: str
    pixels: np.ndarray | None = None
    data: bytes | Callable[[], bytes] | None = None

    def encoded(self):
        return self.data() if callable(self.data) else self.data


def identity(path):
    """What the fingerprint of a source records: path, sizes and mtimes (no content hashing)."""
    if path == "tfds":
        return {"tfds": "cifar10", "data_dir": os.environ.get("TFDS_DATA_DIR")}
    path = os.path.abspath(path)
    if os.path.isdir(path):
        digest = hashlib.sha256()
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(root, name)
                st = os.stat(full)
                digest.update(f"{os.path.relpath(full, path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"path": path, "tree": digest.hexdigest()}
    st = os.stat(path)
    return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


# --- class-per-folder trees ----------------------------------------------------------------------


def _tree_root(tree):
    """Prefix under which `train/` sits: "" or top-level folders such as "cifar10/"."""
    roots = {m.group(1) for n in tree.names if (m := re.match(r"^((?:[^/]+/)*?)train/", n))}
    if not roots:
        raise SourceError(f"{tree.where}: no train/<class>/ folders (expected train/ and test/ class-per-folder trees)")
    shortest = min(roots, key=len)
    if any(not r.startswith(shortest) for r in roots):
        raise SourceError(f"{tree.where}: several train/ folders: {sorted(r + 'train/' for r in roots)}")
    return shortest


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def read_folder(tree):
    """Examples of a `train/<class>/...`, `test/<class>/...` tree, in sorted path order."""
    root = _tree_root(tree)
    splits = {"train": [], "test": []}
    for name in tree.names:
        if not name.startswith(root):
            continue  # beside the tree: READMEs, licences
        rel = name[len(root):]
        parts = rel.split("/")
        if len(parts) == 1 and not _is_image(rel):
            continue
        if parts[0] not in splits:
            if _is_image(rel) or len(parts) > 1:
                raise SourceError(f"{tree.where_of(name)}: unexpected {parts[0]!r} (expected train/ and test/)")
            continue
        if len(parts) < 3:
            raise SourceError(f"{tree.where_of(name)}: file directly in {parts[0]}/ (expected {parts[0]}/<class>/...)")
        if parts[1] not in CLASSES:
            raise SourceError(
                f"{tree.where_of(name)}: unknown class folder {parts[0]}/{parts[1]} "
                f"(expected one of {', '.join(CLASSES)})"
            )
        if not _is_image(rel):
            raise SourceError(f"{tree.where_of(name)}: not an image file (expected {', '.join(IMAGE_EXTENSIONS)})")
        splits[parts[0]].append(Example(rel, CLASSES.index(parts[1]), tree.where_of(name), data=tree.data(name)))
    for split, examples in splits.items():
        if not examples:
            raise SourceError(f"{tree.where}: no images under {root}{split}/")
        missing = [c for i, c in enumerate(CLASSES) if i not in {e.label for e in examples}]
        if missing:  # a folder that did not copy, most likely; the model would never see the class
            print(f"warning: {tree.where}: no images of {', '.join(missing)} under {root}{split}/ "
                  "(empty or missing class folders)", file=sys.stderr)
    return splits


def read_images(path, split="unlabelled", follow_links=False):
    """Every image in a folder or tar (any nesting), label -1, ids `<split>/<path inside>`."""
    tree = open_tree(path, follow_links)
    examples = []
    for name in tree.names:
        if not _is_image(name):
            raise SourceError(f"{tree.where_of(name)}: not an image file (expected {', '.join(IMAGE_EXTENSIONS)})")
        examples.append(Example(f"{split}/{name}", -1, tree.where_of(name), data=tree.data(name)))
    if not examples:
        raise SourceError(f"{path}: no images")
    return examples


def detect_format(tree):
    """`binary`, `python` or `folder`, from the file names in a tree."""
    basenames = {posixpath.basename(n) for n in tree.names}
    if basenames & {b + ".bin" for b in (*TRAIN_BATCHES, TEST_BATCH)}:
        return "binary"
    if basenames & {*TRAIN_BATCHES, TEST_BATCH}:
        return "python"
    return "folder"


def read_labelled(source, fmt=None, follow_links=False):
    """Reads train and test examples from `source` in the given or detected form.

    Args:
        source: `"tfds"`, or a path to a folder or tar archive.
        fmt: one of `FORMATS`, or None to detect it.
        follow_links: read a folder's files through links that lead outside it.

    Returns:
        `(format, {"train": [Example, ...], "test": [...]})`.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ConversionError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if (fmt == "tfds" and source != "tfds") or (source == "tfds" and fmt not in (None, "tfds")):
        raise ConversionError(f"--format {fmt} does not fit --source {source}")
    if source == "tfds":
        from pipelines.cifar10_tfds import read_tfds  # imports this module

        return "tfds", read_tfds()
    if not os.path.exists(source):
        raise SourceError(f"{source}: no such file or directory")
    tree = open_tree(source, follow_links)
    if not tree.names:
        raise SourceError(f"{source}: empty source")
    fmt = fmt or detect_format(tree)
    reader = {"python": read_python, "binary": read_binary, "folder": read_folder}[fmt]
    return fmt, reader(tree)


# The official releases' readers import this module's types, so they come last.
from pipelines.cifar10_releases import BatchUnpickler, read_binary, read_python  # noqa: E402, F401
