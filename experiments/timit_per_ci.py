"""PER on the test set with a 95% interval from resampling test speakers, for finished runs.

    python experiments/timit_per_ci.py runs/timit-grow-timit_grow-sp_none [more workdirs ...] [--stage mimic]

Reads each workdir's `transcripts/<stage>/test.{ref,hyp}.txt` (written by the TIMIT evaluation
and by `experiments/mimic_sweep.py`); the speaker is the utterance id's prefix (`FELC0_SI643`).
`experiments/paired_ci.py` gives the interval of a difference between two runs instead.
"""

import argparse
import os
import sys

from mimic_keras.eval import per, stats


def per_with_ci(workdir, stage):
    """PER of a finished run's `stage` on the test set, and its speaker-bootstrap 95% interval."""
    speakers, refs, hyps = per.read_scored(os.path.join(workdir, "transcripts", stage))
    low, high = stats.per_bootstrap_ci95(refs, hyps, speakers)
    return per.phone_error_rate(refs, hyps), low, high


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdirs", nargs="+")
    parser.add_argument("--stage", default="mimic", help="transcripts subfolder: mimic, control, teacher_0, ...")
    args = parser.parse_args(argv)
    print("| run | PER test | 95% interval (speakers resampled) |\n|---|---:|---:|")
    for workdir in args.workdirs:
        try:
            per, low, high = per_with_ci(workdir, args.stage)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"| {os.path.basename(workdir.rstrip('/'))} | {per:.2%} | {low:.2%} – {high:.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
