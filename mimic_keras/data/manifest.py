"""The typed manifest of a data folder: what a job wrote, from what, with which options.

Every data job (`pipelines/*`) ends by writing `manifest.json` into its output; its presence
marks the folder complete. The JSON keeps the layout it has always had, so folders written by
earlier versions still read:

    {"dataset": "cifar10", "fingerprint": "...", "num_classes": 10,
     "source": {"path": ..., "root": ..., "fingerprint": ..., ...},
     "teacher": {"paths": [...], "sha256": [...], "fingerprint": ...},
     "options": {...the job's options, verbatim...},
     "splits": {"train": {"count": 45000, "shards": [{"file", "sha256", "count"}], ...}},
     ...dataset-specific entries (classes, normalization, train_stats, ...)}

Keys this module does not name are kept in each object's `extra` and written back unchanged,
as are keys whose value is null. `follow` walks from a teacher-labelled folder to the folder it
was labelled from: the one place that does.

Example:

    manifest = Manifest.read("cache/timit-labelled")
    manifest.splits["train"].count, manifest.teacher.sha256
    frames = follow("cache/timit-labelled", lambda m: m.splits["dev"].frames)
"""

import dataclasses
import json
import os
from typing import Optional

MANIFEST = "manifest.json"



def _read_text(path):
    """`path`'s text, or None when it is no file; through `tf.io.gfile` for a URL (`gs://...`)."""
    if "://" in path:
        import tensorflow as tf

        if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return f.read()
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return f.read()


class ManifestError(ValueError):
    """A manifest that is missing, not JSON, or not shaped as one; the message names the file."""


class ManifestMissing(ManifestError, FileNotFoundError):
    """The folder has no manifest: it is missing or its job did not finish."""


def _typed(cls, obj, where, path, *, required=()):
    """`cls(**typed fields, extra=the rest)` from a JSON object, type-checked."""
    if not isinstance(obj, dict):
        raise ManifestError(f"{path}: {where} is {type(obj).__name__}, expected an object")
    kinds = {f.name: f.metadata.get("json") for f in dataclasses.fields(cls) if f.name != "extra"}
    for key in required:
        if key not in obj:
            raise ManifestError(f"{path}: {where} has no {key!r}")
    values, extra = {}, {}
    for key, value in obj.items():
        kind = kinds.get(key)
        if kind is None or value is None:  # nulls stay in `extra`, so they are written back as they were
            extra[key] = value
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ManifestError(f"{path}: {where}.{key} is {type(value).__name__}, expected {kind.__name__}")
        else:
            values[key] = value
    return values, extra


def _json(kind, **kwargs):
    return dataclasses.field(metadata={"json": kind}, **kwargs)


def _to_dict(obj, skip=()):
    out = {
        f.name: getattr(obj, f.name)
        for f in dataclasses.fields(obj)
        if f.name not in ("extra", *skip) and getattr(obj, f.name) is not None
    }
    return {**out, **obj.extra}


@dataclasses.dataclass
class Shard:
    """One TFRecord file of a split: its name in the folder, sha256 and record count."""

    file: str = _json(str)
    count: int = _json(int)
    sha256: Optional[str] = _json(str, default=None)
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj, where, path):
        values, extra = _typed(cls, obj, where, path, required=("file", "count"))
        return cls(**values, extra=extra)

    def to_dict(self):
        return _to_dict(self)


@dataclasses.dataclass
class Split:
    """A split: its examples (`count`), shards, and what some jobs add (frames, views, ...)."""

    count: int = _json(int)
    shards: list = _json(list, default_factory=list)
    frames: Optional[int] = _json(int, default=None)
    views: Optional[int] = _json(int, default=None)
    mixup: Optional[int] = _json(int, default=None)
    speakers: Optional[list] = _json(list, default=None)
    factors: Optional[dict] = _json(dict, default=None)  # speed "0.9" -> {"ratio", "count", "frames"}
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj, where, path):
        values, extra = _typed(cls, obj, where, path, required=("count", "shards"))
        values["shards"] = [Shard.from_dict(s, f"{where}.shards[{i}]", path) for i, s in enumerate(values["shards"])]
        return cls(**values, extra=extra)

    def to_dict(self):
        return {**_to_dict(self, skip=("shards",)), "shards": [s.to_dict() for s in self.shards]}


@dataclasses.dataclass
class Source:
    """Where a folder's data came from: a raw source (`path` or `root`) or a converted folder."""

    path: Optional[str] = _json(str, default=None)
    root: Optional[str] = _json(str, default=None)
    fingerprint: Optional[str] = _json(str, default=None)
    unlabelled: Optional[str] = _json(str, default=None)
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj, where, path):
        values, extra = _typed(cls, obj, where, path)
        return cls(**values, extra=extra)

    def to_dict(self):
        return _to_dict(self)

    def get(self, key, default=None):
        """A field or extra entry by its JSON key (`limit`, `full_test`, ... of a TIMIT source)."""
        value = self.to_dict().get(key)
        return default if value is None else value


@dataclasses.dataclass
class TeacherInfo:
    """The teachers that labelled a folder: their files and sha256s, and the set's fingerprint."""

    paths: list = _json(list)
    sha256: list = _json(list)
    fingerprint: Optional[str] = _json(str, default=None)
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj, where, path):
        values, extra = _typed(cls, obj, where, path, required=("paths", "sha256"))
        return cls(**values, extra=extra)

    def to_dict(self):
        return _to_dict(self)


@dataclasses.dataclass
class Manifest:
    """A data folder's manifest.

    Args:
        splits: `{name: Split}`.
        dataset: `cifar10` or `timit`.
        fingerprint: sha256 of the job's inputs and options; a rerun that finds it does nothing.
        source: where the data came from.
        options: the job's options (`dataclasses.asdict`), as it was called.
        teacher: the teachers of a labelled folder.
        num_classes: logits per example of a labelled folder.
        extra: every other entry (classes, normalization, train_stats, seconds, ...).
    """

    splits: dict = _json(dict)
    dataset: Optional[str] = _json(str, default=None)
    fingerprint: Optional[str] = _json(str, default=None)
    source: Optional[Source] = _json(dict, default=None)
    options: Optional[dict] = _json(dict, default=None)
    teacher: Optional[TeacherInfo] = _json(dict, default=None)
    num_classes: Optional[int] = _json(int, default=None)
    extra: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, obj, path="manifest"):
        """Checks and types a manifest's JSON object; `path` names it in errors."""
        values, extra = _typed(cls, obj, "the manifest", path, required=("splits",))
        values["splits"] = {k: Split.from_dict(v, f"splits.{k}", path) for k, v in values["splits"].items()}
        if "source" in values:
            values["source"] = Source.from_dict(values["source"], "source", path)
        if "teacher" in values:
            values["teacher"] = TeacherInfo.from_dict(values["teacher"], "teacher", path)
        return cls(**values, extra=extra)

    def to_dict(self):
        """The JSON object, in the layout written since the first version."""
        out = _to_dict(self, skip=("splits", "source", "teacher"))
        out["splits"] = {k: v.to_dict() for k, v in self.splits.items()}
        for key in ("source", "teacher"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key).to_dict()
        return out

    @classmethod
    def read(cls, folder):
        """Reads `folder/manifest.json`.

        Raises:
            ManifestMissing: no manifest (a `FileNotFoundError`).
            ManifestError: not JSON, or missing keys or wrong types; one line naming the file.
        """
        path = os.path.join(str(folder), MANIFEST)
        try:
            text = _read_text(path)
            obj = None if text is None else json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ManifestError(f"{path}: not JSON ({str(e).splitlines()[0]})") from None
        if text is None:
            raise ManifestMissing(f"{path}: no manifest; the folder is missing or its job did not finish")
        return cls.from_dict(obj, path)

    def write(self, folder):
        """Writes `folder/manifest.json` atomically (temporary file, fsync, rename; on an object
        store, one object written at once)."""
        path = os.path.join(str(folder), MANIFEST)
        if "://" in str(folder):  # an object store (the Beam jobs' URL outputs)
            import tensorflow as tf

            with tf.io.gfile.GFile(path, "w") as f:
                f.write(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
            return
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def get(self, key, default=None):
        """A top-level entry by its JSON key, typed ones as JSON (for dataset-specific entries)."""
        value = self.to_dict().get(key)
        return default if value is None else value


def labelled_from(folder, manifest=None):
    """The converted folder a teacher-labelled `folder` was labelled from, or None.

    None for a folder whose source is raw data (a tar, a corpus) rather than a folder with a
    manifest, and for one that names itself.
    """
    manifest = manifest or Manifest.read(folder)
    path = manifest.source.path if manifest.source is not None else None
    if not path or os.path.abspath(path) == os.path.abspath(str(folder)):
        return None
    return path if os.path.isfile(os.path.join(path, MANIFEST)) else None


def follow(folder, get):
    """`get(manifest)` of `folder`, or of the folder it was labelled from when that gives None.

    Args:
        folder: a converted or teacher-labelled folder.
        get: a function of a `Manifest` returning the wanted value, or None where it is absent.

    Returns:
        The first value that is not None along the chain of sources, or None.

    Example:
        stats = follow(labelled_dir, lambda m: m.get("normalization"))
    """
    seen = set()
    while folder is not None and os.path.abspath(str(folder)) not in seen:
        seen.add(os.path.abspath(str(folder)))
        manifest = Manifest.read(folder)
        value = get(manifest)
        if value is not None:
            return value
        folder = labelled_from(folder, manifest)
    return None

