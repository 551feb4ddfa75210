"""What the labelling jobs share: split checks, the fingerprint that makes reruns no-ops, and
the manifest fields that name the data and the teachers (read by `mimic_keras.tasks`)."""

import hashlib
import json
import os
import sys
import time

from mimic_keras.data import writer


def check_splits(data_dir, source, splits):
    """The splits to label (default: all of the source's), refusing ones it does not have."""
    splits = list(splits or source["splits"])
    missing = [s for s in splits if s not in source["splits"]]
    if missing:
        raise ValueError(f"{data_dir}: no split(s) {missing}; have {sorted(source['splits'])}")
    return splits


def fingerprint(source, teacher, options):
    """sha256 over the converted data, the teachers' files and the job's options."""
    return hashlib.sha256(
        json.dumps([source.get("fingerprint"), teacher.fingerprint, options], sort_keys=True).encode()
    ).hexdigest()


def finished(out_dir, fingerprint_, force):
    """The manifest of a finished identical labelling of `out_dir`, or None when work is due."""
    if force or not writer.is_complete(out_dir, fingerprint_):
        return None
    print(f"{out_dir}: already labelled by this teacher with these options; nothing to do")
    return writer.read_manifest(out_dir)


def start_manifest(out_dir, data_dir, source, teacher, options, fingerprint_, **fields):
    """The new manifest's common fields; removes the old manifest, whose shards are about to go."""
    path = os.path.join(out_dir, writer.MANIFEST)
    if os.path.exists(path):
        os.remove(path)
    return {
        **fields,
        "num_classes": teacher.num_classes,
        "source": {"path": os.path.abspath(data_dir), "fingerprint": source.get("fingerprint")},
        "teacher": teacher.describe(),
        "options": options,
        "fingerprint": fingerprint_,
        "splits": {},
    }


def finish_manifest(out_dir, manifest, started):
    """Stamps the job's duration and writes the manifest, last: it marks the output complete."""
    manifest["seconds"] = round(time.time() - started, 1)
    writer.write_manifest(out_dir, manifest)
    return manifest


def run_cli(job, **kwargs):
    """Runs a labelling job for a command line: exit status 0, or 2 with a one-line error."""
    try:
        job(**kwargs)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
