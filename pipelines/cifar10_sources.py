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
`cifar10_releases.py`, TFDS in `cifar10_tfds.py`; folders and tars here.
"""

import dataclasses
import hashlib
import io
import lzma
import os
import posixpath
import re
import sys
import tarfile
import zlib
from typing import Callable

import numpy as np

from mimic_keras.data.cifar10 import CLASSES

FORMATS = ("tfds", "python", "binary", "folder")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
PIXELS = 32 * 32 * 3
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


class ConversionError(ValueError):
    """A conversion cannot go ahead; the message is one line naming what is wrong."""


class SourceError(ConversionError):
    """The source is missing, unreadable or not CIFAR-10 in a supported form."""


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


def first_line(error):
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


# --- folders and tar archives, seen the same way -------------------------------------------


def _ignored(name):
    # Finder / archiver litter, never data.
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


class Tree:
    """The files of a folder or of a tar archive, by relative POSIX path, in sorted order."""

    def __init__(self, where, files, is_archive):
        self.where = where
        self.is_archive = is_archive
        self._files = files  # name -> bytes or a reader (archives) or absolute path (folders)
        self.names = sorted(files)

    def __contains__(self, name):
        return name in self._files

    def data(self, name):
        """The file's bytes, or a callable that reads them when needed (folders, plain tars)."""
        value = self._files[name]
        if self.is_archive:
            return value
        return lambda: _read_file(value)

    def read(self, name):
        value = self.data(name)
        return value() if callable(value) else value

    def where_of(self, name):
        return f"{self.where}:{name}" if self.is_archive else os.path.join(self.where, name)


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({first_line(e)})") from None


# A compressed tar is read into memory (seeking in a compressed stream is a re-read from its
# start); past this many bytes it is refused rather than risk a decompression bomb. Plain tars
# are read member by member, from their offsets, however large.
MAX_IN_MEMORY = 1 << 30
MAX_MEMBER = 256 << 20  # no CIFAR-10 file (image or batch) comes near it


def open_tree(path, follow_links=False):
    """Lists a folder or a tar archive (any compression), checking that nothing leaves it.

    Args:
        path: a folder or tar archive.
        follow_links: read files reached through symbolic links that lead outside the folder
            (refused by default, naming the link).
    """
    if os.path.isdir(path):
        return Tree(path, _list_folder(path, follow_links), is_archive=False)
    if not os.path.isfile(path):
        raise SourceError(f"{path}: no such file or directory")
    return Tree(path, _read_tar(path), is_archive=True)


def _inside(root, target):
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _list_folder(path, follow_links):
    root = os.path.realpath(path)
    files, seen = {}, set()
    for folder, dirs, names in os.walk(path, followlinks=True):
        real = os.path.realpath(folder)
        if not follow_links and not _inside(root, real):
            raise SourceError(f"{folder}: a link that leads outside {path} (to {real}); "
                              "copy the files in, or pass --follow-links")
        if real in seen:  # a link back to a folder already read: a loop, or the same files twice
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in names:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if _ignored(rel) or not os.path.isfile(full):
                continue
            if not follow_links and not _inside(root, os.path.realpath(full)):
                raise SourceError(f"{full}: a link that leads outside {path} (to {os.path.realpath(full)}); "
                                  "copy the file in, or pass --follow-links")
            files[rel] = full
    return files


def _member_name(path, member):
    """The member's normalised name; `SourceError` for one that would land outside the archive."""
    name = posixpath.normpath(member.name).removeprefix("./")
    if member.name.startswith("/") or name == ".." or name.startswith("../"):
        raise SourceError(f"{path}: member {member.name!r} points outside the archive; refusing the archive")
    return name


def _read_tar(path):
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise SourceError(f"{path}: not a folder or a readable tar archive ({first_line(e)})") from None
    plain = isinstance(archive.fileobj, io.BufferedReader)  # not GzipFile, BZ2File, LZMAFile
    files, total = {}, 0
    try:
        with archive:
            for member in archive:
                name = _member_name(path, member)
                if member.issym() or member.islnk():
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname)
                                                if member.issym() else member.linkname)
                    if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
                        kind = "symbolic link" if member.issym() else "hard link"
                        raise SourceError(f"{path}: {kind} {name!r} -> {member.linkname!r} leads outside the archive; "
                                          "refusing the archive")
                if not (member.isfile() or member.islnk()) or _ignored(name):
                    continue
                if member.islnk() and target not in files:
                    raise SourceError(f"{path}: hard link {name!r} -> {member.linkname!r} names no earlier member")
                if name in files:
                    raise SourceError(f"{path}: duplicate member {name!r}")
                if member.islnk():
                    files[name] = files[target]
                    continue
                if member.size > MAX_MEMBER:
                    raise SourceError(f"{path}: member {name!r} is {member.size:,} bytes, past the "
                                      f"{MAX_MEMBER:,} a CIFAR-10 file can be; refusing the archive")
                if plain:
                    files[name] = _member_reader(path, member.offset_data, member.size, name)
                    continue
                total += member.size
                if total > MAX_IN_MEMORY:
                    raise SourceError(f"{path}: more than {MAX_IN_MEMORY:,} bytes once decompressed; "
                                      "decompress it to a plain .tar (read without that bound) or extract it")
                data = archive.extractfile(member).read()
                if len(data) != member.size:
                    raise SourceError(f"{path}: truncated archive ({name} is cut short)")
                files[name] = data
            _check_archive_end(archive, path)
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise SourceError(f"{path}: truncated or corrupt tar archive ({first_line(e)})") from None
    return files


def _member_reader(path, offset, size, name):
    """A callable reading one member of a plain tar from its offset: one image in memory at a time."""

    def read():
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(size)
        except OSError as e:
            raise SourceError(f"{path}: cannot read {name} ({first_line(e)})") from None
        if len(data) != size:
            raise SourceError(f"{path}: truncated archive ({name} is cut short)")
        return data

    return read


def _check_archive_end(archive, path):
    # tarfile treats a missing end-of-archive block as the end, so a tar cut at a member
    # boundary reads as a smaller, valid one. Demand the zero block, then read the compressed
    # stream to its end so that gzip/bz2/xz check their length and CRC.
    fileobj = archive.fileobj
    fileobj.seek(archive.offset)
    if fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise SourceError(f"{path}: truncated tar archive (no end-of-archive marker)")
    while fileobj.read(1 << 20):
        pass


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
