"""Read-time checks that a split's shards are what its manifest promises.

`writer.split_files`, through which every reader opens a split, calls `check_split`: each shard
must exist, hold exactly the manifest's record count (TFRecord framing walked, so a shard cut at
a record boundary is caught) and, when the manifest has one, match its sha256; the split's count
must be the sum of its shards'. A shard is read once per process: the result is cached by its
path, size and mtime, so the stages of one `fit` run pay for each shard once and a file changed
since is checked again. `set_enabled(False)` (the CLIs' `--no-verify`) skips it all.

Example:

    verify.check_split("runs/x/data", manifest, "train")   # ShardError naming the shard
"""

import hashlib
import os
import struct

_enabled = True
_cache = {}  # (realpath, size, mtime_ns) -> (sha256, count)


class ShardError(ValueError):
    """A shard that does not match its manifest; the message names the shard and what differs."""


def set_enabled(enabled):
    """Turns read-time verification on or off (process-wide)."""
    global _enabled
    _enabled = bool(enabled)


def enabled():
    return _enabled


def scan(path, chunk=1 << 20):
    """(sha256, record count) of a TFRecord file; `ShardError` if it ends inside a record."""
    digest = hashlib.sha256()
    count = 0
    with open(path, "rb") as f:
        while True:
            header = f.read(12)  # uint64 length, uint32 masked crc of the length
            digest.update(header)
            if not header:
                break
            if len(header) < 12:
                raise ShardError(f"{path}: truncated after {count} records (a partial record header); "
                                 "rerun the stage that wrote it with --force")
            (length,) = struct.unpack("<Q", header[:8])
            left = length + 4  # data, then the crc of the data
            while left:
                block = f.read(min(left, chunk))
                if not block:
                    raise ShardError(f"{path}: truncated inside record {count + 1}; "
                                     "rerun the stage that wrote it with --force")
                digest.update(block)
                left -= len(block)
            count += 1
    return digest.hexdigest(), count


def _scan_cached(path):
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _cache:
        _cache[key] = scan(path)
    return _cache[key]


def check_split(folder, manifest, split):
    """Checks one split's shards against `manifest` (a `Manifest` of `folder`).

    Raises:
        ShardError: a shard missing, truncated, with another record count or sha256, or a split
            count that is not the sum of its shards'; one line naming the shard.
    """
    if not _enabled:
        return
    entry = manifest.splits[split]
    where = os.path.join(str(folder), "manifest.json")
    total = sum(s.count for s in entry.shards)
    if total != entry.count:
        raise ShardError(f"{where}: split {split!r} has count {entry.count} but its shards hold {total}; "
                         "the manifest was edited or is damaged: rerun the stage that wrote it with --force")
    for shard in entry.shards:
        path = os.path.join(str(folder), shard.file)
        if not os.path.isfile(path):
            raise ShardError(f"{path}: missing (listed in {where}); rerun the stage that wrote it with --force")
        sha256, count = _scan_cached(path)
        if count != shard.count:
            raise ShardError(f"{path}: holds {count} records, its manifest says {shard.count}; "
                             "rerun the stage that wrote it with --force (or --no-verify)")
        if shard.sha256 is not None and sha256 != shard.sha256:
            raise ShardError(f"{path}: sha256 {sha256[:12]}… differs from its manifest's {shard.sha256[:12]}…; "
                             "the file changed since it was written: rerun that stage with --force (or --no-verify)")
