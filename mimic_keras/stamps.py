"""What made a stage's outputs: its stamp, and whether the outputs are still what the config asks for.

A stage's stamp (`<workdir>/stamps/<stage>.json`, written after its outputs are complete)
records the config fields the stage reads, the fingerprints of the stages whose outputs it
consumed, its format version and a digest of each of its outputs. The stage is up to date only
when all of these still hold; otherwise `Status.reason` says why, in one line
(`mimic.hidden 512 → 100`, `teacher was redone`, `outputs changed since they were made`).
A stage's fingerprint, which the stages after it record, covers its outputs' digests, so
anything that changes an output (a rerun, a hand edit) makes everything downstream stale.
"""

import hashlib
import json
import os
from dataclasses import dataclass

from mimic_keras.atomic import sha256_file, write_json_atomic


@dataclass(frozen=True)
class Status:
    """Whether a stage must run, and why (one line); `fingerprint` is set when it is up to date."""

    up_to_date: bool
    reason: str
    fingerprint: str = None


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path, known=None):
    """{"size", "mtime_ns", "sha256"} of a file; reuses `known`'s sha256 when size and mtime agree."""
    st = os.stat(path)
    if known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns:
        return known
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path)}


def intent(version, config, inputs):
    """The fingerprint of what a stage is asked to make, before it has outputs."""
    return _digest({"version": version, "config": config, "inputs": inputs})


def fingerprint(stamp):
    """The fingerprint the stages after this one record: what made it and what it made."""
    return _digest({"intent": stamp["intent"], "outputs": {k: v["sha256"] for k, v in stamp["outputs"].items()}})


def read(path):
    """A stamp, or None when there is none (or it is unreadable: the stage then reruns)."""
    try:
        with open(path) as f:
            stamp = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) and {"intent", "outputs", "config", "inputs"} <= set(stamp) else None


def write(path, stage, version, config, inputs, outputs, root):
    """Records what made `outputs` (paths under `root`); returns the stamp."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    stamp = {
        "stage": stage, "version": version, "config": config, "inputs": inputs,
        "intent": intent(version, config, inputs),
        "outputs": {os.path.relpath(p, root): file_digest(p) for p in outputs},
    }
    write_json_atomic(path, stamp)
    return stamp


def _show(value):
    return json.dumps(value) if not isinstance(value, str) else value


def config_changes(old, new, limit=3):
    """`a.b 1 → 2` phrases for the fields whose values differ."""
    changes = [f"{k} {_show(old.get(k, '(unset)'))} → {_show(new.get(k, '(unset)'))}"
               for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    more = len(changes) - limit
    return ", ".join(changes[:limit]) + (f" and {more} more" if more > 0 else "")


def status(path, version, config, inputs, outputs, root, defaults=None):
    """Whether the stage whose stamp is at `path` is up to date.

    A field the stamp does not record (one added to the config after the stage ran) counts as
    unchanged while it holds its default, since a new field's default keeps the old behaviour:
    adding a setting does not make every finished run stale.

    Args:
        path: the stamp's path.
        version: the stage's format version.
        config: {field: value} of the config fields the stage reads.
        inputs: {stage: fingerprint or None} of the stages it consumes (None: not up to date).
        outputs: the paths of its outputs.
        root: the workdir (stamps record output paths relative to it).
        defaults: {field: default} of the fields in `config`.
    """
    stamp = read(path)
    missing = [p for p in outputs if not os.path.exists(p)]
    if stamp is None:
        return Status(False, "no outputs yet" if missing else "no record of what made its outputs")
    stale_inputs = [name for name, fp in inputs.items() if fp is None]
    if stale_inputs:
        return Status(False, f"{', '.join(stale_inputs)} out of date")
    if stamp.get("version") != version:
        return Status(False, f"format version {stamp.get('version')} → {version}")
    defaults = defaults or {}
    config = {k: v for k, v in config.items() if k in stamp["config"] or k not in defaults or v != defaults[k]}
    if stamp["config"] != config:
        return Status(False, config_changes(stamp["config"], config))
    changed = [name for name, fp in inputs.items() if stamp["inputs"].get(name) != fp]
    if changed:
        return Status(False, f"{', '.join(changed)} {'was' if len(changed) == 1 else 'were'} redone")
    if missing or {os.path.relpath(p, root) for p in outputs} != set(stamp["outputs"]):
        return Status(False, "outputs missing")
    for rel, known in stamp["outputs"].items():
        if file_digest(os.path.join(root, rel), known)["sha256"] != known["sha256"]:
            return Status(False, f"{rel} changed since it was made")
    return Status(True, "up to date", fingerprint(stamp))
