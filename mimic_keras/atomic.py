"""Atomic output: files (`write_json_atomic`) and folders, the one output protocol of the data jobs.

`atomic_output(out_dir)` builds everything in a hidden sibling folder (`.<name>.tmp-<pid>`),
renames it into place, and removes it on error; a later run removes the folders left by killed
ones (`remove_stale`). A folder holding files no data job wrote is replaced only with `force`.
An output on an object store (a URL such as `gs://...`, written by the Beam jobs through
`tf.io.gfile`) has no folder rename: there the job writes into the folder itself, its old
manifest removed first and the new one written last. Nothing here imports TensorFlow, except for
a URL.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil

from mimic_keras import locks


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path, obj):
    """Writes JSON to `path` via a temporary file and rename."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def is_url(path):
    """True for a URL (`gs://bucket/dir`, `ram://...`): a folder on a file system TensorFlow registers."""
    return path is not None and "://" in str(path)


def absolute(path):
    """`path` made absolute, None and URLs kept (for the options a manifest records)."""
    if path is None:
        return None
    return str(path).rstrip("/") if is_url(path) else os.path.abspath(str(path))


# --- atomic output -----------------------------------------------------------------------------

# What a data job leaves in its output folder: shards, the manifest, and their temporary names
# (and, on an object store, what a failed Beam run left: its workers' `.beam-*.json` reports).
_OUTPUT_FILE = re.compile(
    r"(manifest\.json|[\w.-]+\.tfrecord-\d{5}-of-\d{5})(\.tmp-\d+)?|\..+\.tmp-\d+|\.beam-[\w-]+\.json(\.tmp)?"
)


class OutputExists(ValueError):
    """The output folder holds files that no data job wrote; they are not replaced without `force`."""


def check_replaceable(out_dir, force=False):
    """Refuses (`OutputExists`) to replace a folder holding anything but a data job's files."""
    if force or not os.path.isdir(out_dir):
        if not force and os.path.lexists(out_dir) and not os.path.isdir(out_dir):
            raise OutputExists(f"{out_dir}: exists and is not a folder; pass --force to replace it")
        return
    foreign = sorted(n for n in os.listdir(out_dir) if not _OUTPUT_FILE.fullmatch(n))
    if foreign:
        raise OutputExists(f"{out_dir}: holds {foreign[0]!r}, which no data job wrote; pass --force to replace it")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def remove_stale(out_dir):
    """Removes the hidden build and swap folders that killed runs left beside `out_dir`.

    Returns:
        The names removed (those whose process is no longer alive).
    """
    parent, base = os.path.split(os.path.abspath(out_dir))
    removed = []
    if not os.path.isdir(parent):
        return removed
    for name in os.listdir(parent):
        for marker in (f".{base}.tmp-", f".{base}.old-"):
            if name.startswith(marker):
                pid = name[len(marker):].split("-")[0]
                if pid.isdigit() and not _alive(int(pid)):
                    _remove(os.path.join(parent, name))
                    removed.append(name)
    return removed


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(out_dir, force=False):
    """Builds a job's output in `.<name>.tmp-<pid>` beside `out_dir`, then renames it into place.

    On success the build folder replaces `out_dir` (a previous output of a data job, complete or
    not; anything else only with `force`); on any exception it is removed and `out_dir` is left
    as it was. A run that is killed leaves
    its build folder behind; the next run beside the same `out_dir` removes it. So `out_dir`
    is always absent, the previous output, or complete. Write the manifest last, inside the
    build folder.

    Args:
        out_dir: the output folder.
        force: replace `out_dir` even when it holds files that no data job wrote.

    Yields:
        The build folder to write into (created, empty, with the usual permissions).

    Example:
        with atomic_output("cache/cifar10") as build:
            writer.write_shards(build, "train", examples, 4)
            writer.write_manifest(build, manifest)
    """
    if is_url(out_dir):
        with _url_output(absolute(out_dir), force) as build:
            yield build
        return
    out_dir = os.path.abspath(str(out_dir))
    check_replaceable(out_dir, force)
    parent, base = os.path.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    with locks.hold_folder(out_dir):  # two jobs on one output: the second fails at once
        with _build(out_dir, parent, base) as build:
            yield build


@contextlib.contextmanager
def _url_output(out_dir, force):
    """An output on an object store, which has no rename of a folder: the old manifest goes first
    (the folder is not done from then on), then the old files; the job writes into `out_dir`
    itself and its manifest last. A run that fails leaves a folder without a manifest, which no
    job takes as done; the next run removes what it left. No lock: one job at a time is the
    caller's to ensure."""
    import tensorflow as tf

    gfile = tf.io.gfile
    if gfile.exists(out_dir):
        names = [name.rstrip("/") for name in gfile.listdir(out_dir)]
        foreign = sorted(n for n in names if not _OUTPUT_FILE.fullmatch(n))
        if foreign and not force:
            raise OutputExists(f"{out_dir}: holds {foreign[0]!r}, which no data job wrote; pass --force to replace it")
        if "manifest.json" in names:
            gfile.remove(f"{out_dir}/manifest.json")
        for path in (f"{out_dir}/{name}" for name in names if name != "manifest.json"):
            if gfile.isdir(path):
                gfile.rmtree(path)
            else:
                gfile.remove(path)
    else:
        gfile.makedirs(out_dir)
    yield out_dir


@contextlib.contextmanager
def _build(out_dir, parent, base):
    remove_stale(out_dir)
    build = os.path.join(parent, f".{base}.tmp-{os.getpid()}")
    _remove(build)  # this process's own, from an earlier failure that could not clean up
    os.mkdir(build)
    try:
        yield build
        old = os.path.join(parent, f".{base}.old-{os.getpid()}")
        if os.path.isdir(out_dir) and not os.path.islink(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)
        elif os.path.lexists(out_dir):
            _remove(old)
            os.rename(out_dir, old)
        os.rename(build, out_dir)
        _fsync_dir(parent)
        _remove(old)
    except BaseException:
        _remove(build)
        raise
