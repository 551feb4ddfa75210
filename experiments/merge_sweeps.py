"""Put rows of several sweeps into one table and one set of figures (no training).

    python experiments/merge_sweeps.py --name mimic_vs_control \
        --row docs/experiments/transfer_size.json:v0_45k \
        --row docs/experiments/control_labels.json:plain --row docs/experiments/control_labels.json:ls01

Each `--row FILE.json:VARIANT[=NAME]` copies one row of a sweep written by `experiments/mimic_sweep.py`
(a row keeps its stage, so mimics and label-trained controls sit side by side), renamed NAME
when given. `--scores NAME=CHECKPOINTS.json:CKPT` gives the merged row NAME the scores of another
checkpoint of the same run, as `experiments/score_checkpoints.py` wrote them (`kept`, `last`,
`epoch_<n>`): a run kept at its best validation loss can then stand in the table at its last
epoch, like rows whose best epoch was their last. Writes
`docs/experiments/<name>.json|.md|.png` like a sweep; `python -m mimic_keras.plots` redraws them.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mimic_sweep import write_outputs  # noqa: E402
from stored_intervals import checkpoint_row  # noqa: E402

# What a checkpoint's scores replace in a sweep row; the rest (stage, overrides, curve, wall time) is the run's.
_NOT_SCORES = ("epoch", "file")


def pick(spec):
    """(base, row) for `FILE.json:VARIANT[=NAME]`: the row VARIANT of a sweep, renamed NAME."""
    path, _, variant = spec.rpartition(":")
    variant, _, name = variant.partition("=")
    with open(path) as f:
        sweep = json.load(f)
    for row in sweep["rows"]:
        if row["variant"] == variant:
            return sweep["base"], {**row, "variant": name or variant}
    raise ValueError(f"{path} has no variant {variant!r}; it has {[r['variant'] for r in sweep['rows']]}")


def rescore(row, spec):
    """`row` with the scores of the checkpoint `CHECKPOINTS.json:CKPT`, and where they came from."""
    path, _, name = spec.rpartition(":")
    with open(path) as f:
        kept = json.load(f)
    if kept.get("kind") != "checkpoints":
        raise ValueError(f"{path} is not a score_checkpoints.py summary")
    scores = {k: v for k, v in checkpoint_row(kept, path, name).items() if k not in _NOT_SCORES}
    return {**row, **scores, "scores_from": spec}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--row", action="append", required=True, metavar="FILE.json:VARIANT[=NAME]")
    parser.add_argument("--scores", action="append", default=[], metavar="NAME=CHECKPOINTS.json:CKPT",
                        help="give row NAME the scores of that checkpoint of its run (kept, last, epoch_<n>)")
    args = parser.parse_args(argv)
    try:
        picked = [pick(spec) for spec in args.row]
        at = {}  # a merged row's index by name (the first, should two share one)
        for i, (_, row) in enumerate(picked):
            at.setdefault(row["variant"], i)
        for spec in args.scores:
            name, _, source = spec.partition("=")
            if name not in at:
                raise ValueError(f"--scores {spec}: no merged row {name!r}")
            if not source:
                raise ValueError(f"--scores {spec}: no checkpoint")
            base, row = picked[at[name]]
            picked[at[name]] = base, rescore(row, source)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bases = sorted({base for base, _ in picked})
    write_outputs(args.name, [row for _, row in picked], [], ", ".join(bases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
