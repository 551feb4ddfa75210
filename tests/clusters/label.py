"""The clusters dataset's label job: the teachers' mean logits over every split, beside each vector.

Built from the shared labelling pieces (`pipelines.labelling`: split checks, fingerprint,
manifest naming the data and the teachers) and the shared writers.
"""

import dataclasses
import sys
import time
from typing import Optional

from mimic_keras import jobs
from mimic_keras.data import writer
from mimic_keras.data.manifest import Manifest, Shard, Split
from mimic_keras.jobs import option
from mimic_keras.teachers_io import TeacherSet
from pipelines import labelling
from tests.clusters import records


@dataclasses.dataclass(frozen=True)
class Options:
    data: str = option("converted cluster TFRecords (with manifest.json)")
    teacher: tuple[str, ...] = option(".keras file or SavedModel; repeat for an ensemble", repeat=True)
    out: str = option("output folder")
    splits: Optional[tuple[str, ...]] = option("splits to label (default: all)", None)
    force: bool = option("redo even when a finished output with the same inputs exists", False)


def _labelled(data_dir, split, teacher):
    for batch in records.load_split(data_dir, split).batch(256).as_numpy_iterator():
        logits = teacher(batch["features"])
        for features, label, example_id, row in zip(batch["features"], batch["label"], batch["id"], logits):
            yield records.example(features, label, example_id.decode(), logits=row)


def run(options):
    """Writes the labelled splits and a manifest that names the data and the teachers."""
    source = Manifest.read(options.data)
    teacher = TeacherSet(list(options.teacher))
    splits = labelling.check_splits(options.data, source, options.splits)
    fingerprint = labelling.fingerprint(source, teacher, {"splits": splits})
    done = labelling.finished(options.out, fingerprint, options.force)
    if done is not None:
        return done
    started = time.time()
    manifest = labelling.new_manifest(
        options.data, source, teacher, labelling.recorded_options(options, splits, teacher), fingerprint,
        dataset="clusters", classes=source.get("classes"), feature_dim=source.get("feature_dim"),
    )
    with jobs.atomic_output(options.out, force=options.force) as build:
        for split in splits:
            shards = writer.write_shards(build, split, _labelled(options.data, split, teacher), 1)
            manifest.splits[split] = Split(count=sum(s["count"] for s in shards), shards=[Shard(**s) for s in shards])
        return labelling.finish(build, manifest, started)


def main(argv=None):
    return labelling.main(Options, run, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
