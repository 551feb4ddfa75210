"""The clusters dataset's prepare job: an `.npz` of vectors and labels → TFRecord shards + manifest.

In process `run(Options(...))`, as the `Task` calls it; `main` is its generated CLI.
"""

import dataclasses
import hashlib
import json
import os
import sys
from typing import Optional

import numpy as np

from mimic_keras import jobs
from mimic_keras.atomic import sha256_file
from mimic_keras.data import writer
from mimic_keras.data.manifest import Manifest, Shard, Source, Split
from mimic_keras.jobs import option
from tests.clusters import records


@dataclasses.dataclass(frozen=True)
class Options:
    out: str = option("output folder")
    source: str = option("an .npz of x_train, y_train, x_test, y_test, classes")
    val_fraction: float = option("training vectors held out for validation (the last ones)", 0.2)
    limit: Optional[int] = option("first N vectors per split", None)
    force: bool = option("redo even when a finished output with the same inputs exists", False)


def run(options):
    """Converts `options.source` into `train`, `validation` and `test` splits under `options.out`."""
    if not os.path.isfile(options.source):
        raise FileNotFoundError(f"{options.source}: no such .npz (data.source=...)")
    recorded = dataclasses.asdict(dataclasses.replace(options, out=os.path.abspath(options.out),
                                                      source=os.path.abspath(options.source)))
    fingerprint = hashlib.sha256(json.dumps([sha256_file(options.source), recorded], sort_keys=True).encode()).hexdigest()
    if not options.force and writer.is_complete(options.out, fingerprint):
        return Manifest.read(options.out)
    with np.load(options.source) as raw:
        data = {key: raw[key] for key in raw.files}
    held = int(round(len(data["x_train"]) * options.val_fraction))
    order = np.random.default_rng(0).permutation(len(data["x_train"]))  # validation: a random share
    val, train = order[:held], order[held:]
    plan = {"train": (data["x_train"][train], data["y_train"][train]),
            "validation": (data["x_train"][val], data["y_train"][val]), "test": (data["x_test"], data["y_test"])}
    with jobs.atomic_output(options.out, force=options.force) as build:
        splits = {}
        for split, (x, y) in plan.items():
            x, y = x[:options.limit], y[:options.limit]
            shards = writer.write_shards(build, split, (records.example(v, label, f"{split}/{i:04d}")
                                                        for i, (v, label) in enumerate(zip(x, y))), 1)
            splits[split] = Split(count=len(y), shards=[Shard(**s) for s in shards])
        manifest = Manifest(dataset="clusters", fingerprint=fingerprint, source=Source(path=recorded["source"]),
                            options=recorded, splits=splits,
                            extra={"classes": [str(c) for c in data["classes"]],
                                   "feature_dim": int(data["x_train"].shape[1])})
        manifest.write(build)
    return manifest


def main(argv=None):
    return jobs.run_cli(Options, run, argv, prog="python -m tests.clusters.convert", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
