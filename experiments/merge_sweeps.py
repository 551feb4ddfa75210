"""Put rows of several sweeps into one table and one set of figures (no training).

    python experiments/merge_sweeps.py --name mimic_vs_control \
        --row docs/experiments/transfer_size.json:v0_45k \
        --row docs/experiments/control_labels.json:plain --row docs/experiments/control_labels.json:ls01

Each `--row FILE.json:VARIANT[=NAME]` copies one row of a sweep written by `experiments/mimic_sweep.py`
(a row keeps its stage, so mimics and label-trained controls sit side by side), renamed NAME
when given. Writes
`docs/experiments/<name>.json|.md|.png` like a sweep; `python -m mimic_keras.plots` redraws them.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mimic_sweep import write_outputs  # noqa: E402


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--row", action="append", required=True, metavar="FILE.json:VARIANT[=NAME]")
    args = parser.parse_args(argv)
    try:
        picked = [pick(spec) for spec in args.row]
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bases = sorted({base for base, _ in picked})
    write_outputs(args.name, [row for _, row in picked], [], ", ".join(bases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
