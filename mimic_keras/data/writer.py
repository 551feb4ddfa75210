"""Atomic, sharded TFRecord writing with a JSON manifest.

Every shard is written under a temporary name, fsynced, then renamed, so a crash never leaves a
file that looks complete. The manifest is written last (also atomically): a folder with a
manifest is finished, a folder without one is not. `is_complete` lets jobs skip finished work.
"""

import contextlib
import hashlib
import os

import tensorflow as tf

from mimic_keras.atomic import sha256_file, write_json_atomic  # noqa: F401  (also the writer's API)
from mimic_keras.data import verify
from mimic_keras.data.manifest import MANIFEST, Manifest, ManifestError


def shard_names(split, num_shards):
    """Shard file names in the TFDS style: `split.tfrecord-00000-of-00004`."""
    return [f"{split}.tfrecord-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]


def _fsync_and_rename(tmp, final):
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def write_shards(out_dir, split, records, num_shards):
    """Writes serialized records round-robin into `num_shards` shards, atomically.

    Args:
        out_dir: output folder (created if needed).
        split: split name used in the shard file names.
        records: iterable of serialized `tf.train.Example` / `SequenceExample` bytes.
        num_shards: number of shards (at least 1).

    Returns:
        A list of dicts `{"file", "sha256", "count"}`, one per shard.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    os.makedirs(out_dir, exist_ok=True)
    names = shard_names(split, num_shards)
    tmps = [os.path.join(out_dir, f".{name}.tmp-{os.getpid()}") for name in names]
    counts = [0] * num_shards
    try:
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(tf.io.TFRecordWriter(t)) for t in tmps]
            for i, record in enumerate(records):
                writers[i % num_shards].write(record)
                counts[i % num_shards] += 1
        for tmp, name in zip(tmps, names):
            _fsync_and_rename(tmp, os.path.join(out_dir, name))
    finally:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.remove(tmp)
    return [
        {"file": name, "sha256": sha256_file(os.path.join(out_dir, name)), "count": count}
        for name, count in zip(names, counts)
    ]


def write_shard(out_dir, name, records):
    """Writes one shard file atomically (temporary name, fsync, rename), for writers that place
    each record themselves (the Beam jobs, one shard per worker task). Paths go through
    `tf.io.gfile`, so `out_dir` may be any file system TensorFlow has registered (`gs://`...;
    the rename is then the file system's own, and there is no fsync).

    Args:
        out_dir: output folder (it must exist).
        name: the shard's file name (one of `shard_names`).
        records: iterable of serialized records, in file order.

    Returns:
        `{"file", "sha256", "count"}`, as `write_shards` gives per shard.
    """
    final = f"{str(out_dir).rstrip('/')}/{name}"
    tmp = f"{str(out_dir).rstrip('/')}/.{name}.tmp-{os.getpid()}"
    local = "://" not in final
    count = 0
    try:
        with tf.io.TFRecordWriter(tmp) as w:
            for record in records:
                w.write(record)
                count += 1
        if local:
            _fsync_and_rename(tmp, final)
        else:
            tf.io.gfile.rename(tmp, final, overwrite=True)
    finally:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
    return {"file": name, "sha256": sha256_file(final) if local else _sha256_gfile(final), "count": count}


def _sha256_gfile(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(out_dir, manifest):
    """Writes `manifest.json` last: its presence marks the folder complete.

    Args:
        out_dir: the output folder.
        manifest: a `Manifest`, or its JSON object (checked the same way).
    """
    if isinstance(manifest, dict):
        manifest = Manifest.from_dict(manifest, os.path.join(out_dir, MANIFEST))
    manifest.write(out_dir)


def read_manifest(out_dir):
    """The manifest's JSON object, checked by `Manifest.read` (which typed readers use directly).

    Raises:
        ManifestMissing: no manifest (a `FileNotFoundError`).
        ManifestError: a malformed one; the message names the file.
    """
    return Manifest.read(out_dir).to_dict()


def is_complete(out_dir, fingerprint=None):
    """True when `out_dir` holds a manifest (matching `fingerprint` if given) and all its shards."""
    try:
        manifest = Manifest.read(out_dir)
    except ManifestError:
        return False
    if fingerprint is not None and manifest.fingerprint != fingerprint:
        return False
    shards = [shard.file for split in manifest.splits.values() for shard in split.shards]
    exists = tf.io.gfile.exists if "://" in str(out_dir) else os.path.exists
    return all(exists(os.path.join(out_dir, name)) for name in shards)


def split_files(out_dir, split):
    """Full paths of one split's shards, as listed in the manifest, checked against it.

    Every reader opens a split through here, so every stage reads only shards that hold the
    manifest's counts and sha256s (`mimic_keras.data.verify`; once per process per file).

    Raises:
        KeyError: no such split.
        verify.ShardError: a shard that differs from the manifest (a `ValueError`).
    """
    manifest = Manifest.read(out_dir)
    if split not in manifest.splits:
        raise KeyError(f"{out_dir}: no split {split!r}; have {sorted(manifest.splits)}")
    verify.check_split(out_dir, manifest, split)
    return [os.path.join(out_dir, s.file) for s in manifest.splits[split].shards]
