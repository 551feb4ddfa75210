"""What the labelling jobs share: split checks, the fingerprint that makes reruns no-ops, and
the manifest fields that name the data and the teachers (read by `mimic_keras.tasks`)."""

import dataclasses
import hashlib
import json
import os
import time

from mimic_keras import jobs
from mimic_keras.data import writer
from mimic_keras.data.manifest import Manifest, Source, TeacherInfo

ERRORS = (FileNotFoundError, ValueError, KeyError)  # what a labelling CLI reports in one line


def check_splits(data_dir, source, splits):
    """The splits to label (default: all of the source `Manifest`'s), refusing ones it lacks."""
    splits = list(splits or source.splits)
    missing = [s for s in splits if s not in source.splits]
    if missing:
        raise ValueError(f"{data_dir}: no split(s) {missing}; have {sorted(source.splits)}")
    return splits


def fingerprint(source, teacher, options):
    """sha256 over the converted data (`source.fingerprint`), the teachers' files and the options."""
    identity = [source.fingerprint, teacher.fingerprint, options]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def finished(out_dir, fingerprint_, force):
    """The `Manifest` of a finished identical labelling of `out_dir`, or None when work is due."""
    if force or not writer.is_complete(out_dir, fingerprint_):
        return None
    print(f"{out_dir}: already labelled by this teacher with these options; nothing to do")
    return Manifest.read(out_dir)


def recorded_options(options, splits, teacher):
    """`dataclasses.asdict(options)` as the manifest records it: absolute paths, the splits labelled."""
    recorded = dataclasses.replace(
        options, data=os.path.abspath(options.data), out=jobs.absolute(options.out),
        teacher=tuple(teacher.paths), splits=tuple(splits),
    )
    return json.loads(json.dumps(dataclasses.asdict(recorded)))


def new_manifest(data_dir, source, teacher, options, fingerprint_, **extra):
    """The labelled folder's `Manifest`, without splits yet: it names the data and the teachers."""
    return Manifest(
        dataset=extra.pop("dataset"),
        fingerprint=fingerprint_,
        num_classes=teacher.num_classes,
        source=Source(path=os.path.abspath(data_dir), fingerprint=source.fingerprint),
        teacher=TeacherInfo.from_dict(teacher.describe(), "teacher", data_dir),
        options=options,
        splits={},
        extra=extra,
    )


def finish(build, manifest, started):
    """Stamps the job's duration and writes the manifest, last: it marks the output complete."""
    manifest.extra["seconds"] = round(time.time() - started, 1)
    manifest.write(build)
    return manifest


def main(options_cls, run, argv, doc):
    """A labelling job's command line: exit status 0, or 2 with a one-line error."""
    return jobs.run_cli(options_cls, run, argv, errors=ERRORS, description=doc.split("\n\n")[0])
