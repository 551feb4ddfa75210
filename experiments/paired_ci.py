"""Differences between finished runs on the same test set, with paired 95% intervals.

    python experiments/paired_ci.py BASELINE[:STAGE] OTHER[:STAGE] [OTHER[:STAGE] ...]

Each argument is a workdir (a run or a `mimic_sweep.py` variant) and the model in it (default
`mimic`; `control`, and for TIMIT `teacher_0`, `ensemble`, ...). Every OTHER is compared with
BASELINE on the same test examples:

* CIFAR-10: test accuracy of OTHER minus BASELINE, the interval from the per-image
  differences (`mimic_keras.eval.stats.paired_difference_ci95`); the models are run on the test split.
* TIMIT: PER of OTHER minus BASELINE from the evaluation's transcripts
  (`transcripts/<stage>/test.{ref,hyp}.txt`), the interval from resampling test speakers, both
  systems on the same draws (`mimic_keras.eval.stats.per_difference_bootstrap_ci95`).

Two runs whose separate intervals overlap can still differ clearly: the paired interval leaves
out what the two share (the hard images, the hard speakers).

`--json docs/experiments/<table>_paired.json` also writes the rows there, with the command, so
an interval quoted in docs/results.md can be traced to a file (the run folders are not kept).
"""

import argparse
import os
import sys

import numpy as np


def _parse(spec):
    workdir, _, stage = spec.partition(":")
    return workdir, stage or "mimic"


def _config(workdir):
    """The config saved in a run's workdir."""
    from mimic_keras import config as config_lib
    from mimic_keras.layout import Layout

    return config_lib.get_preset(Layout(workdir).config)


def _cifar_correct(workdir, stage):
    """(image ids, per-image correctness) of one model on its run's test split."""
    import keras

    from mimic_keras.eval.image_scoring import correct_on_test

    from mimic_keras.layout import Layout

    layout = Layout(workdir)
    return correct_on_test(keras.saving.load_model(layout.model(stage), compile=False), layout.data)


def compare(baseline, others):
    """Rows `(name, value, difference, low, high)`: test accuracy (CIFAR-10) or PER (TIMIT)."""
    from mimic_keras.eval import per, stats

    kinds = {_config(w).data.dataset for w, _ in [baseline, *others]}
    if len(kinds) != 1:
        raise ValueError(f"runs of different datasets: {', '.join(sorted(kinds))}")
    rows = []
    if kinds == {"timit"}:
        def scored(workdir, stage):
            return per.read_scored(os.path.join(workdir, "transcripts", stage))

        speakers, refs, base_hyps = scored(*baseline)
        rows.append((baseline, per.phone_error_rate(refs, base_hyps), None, None, None))
        for other in others:
            their_speakers, their_refs, hyps = scored(*other)
            if their_speakers != speakers or their_refs != refs:
                raise ValueError(f"{other[0]}: scored on other test utterances than {baseline[0]}")
            diff, low, high = stats.per_difference_bootstrap_ci95(refs, hyps, base_hyps, speakers)
            rows.append((other, per.phone_error_rate(refs, hyps), diff, low, high))
        return "PER", rows
    ids, base = _cifar_correct(*baseline)
    rows.append((baseline, float(np.mean(base)), None, None, None))
    for other in others:
        their_ids, correct = _cifar_correct(*other)
        if not np.array_equal(their_ids, ids):
            raise ValueError(f"{other[0]}: its test split is not {baseline[0]}'s")
        diff, half = stats.paired_difference_ci95(correct, base)
        rows.append((other, float(np.mean(correct)), diff, diff - half, diff + half))
    return "test accuracy", rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", help="WORKDIR[:STAGE]")
    parser.add_argument("others", nargs="+", help="WORKDIR[:STAGE] ...")
    parser.add_argument("--json", metavar="PATH", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    try:
        measure, rows = compare(_parse(args.baseline), [_parse(o) for o in args.others])
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"| run | {measure} | minus the first (paired 95% interval) |\n|---|---:|---:|")
    for (workdir, stage), value, diff, low, high in rows:
        name = f"{os.path.basename(workdir.rstrip('/'))}:{stage}"
        change = "—" if diff is None else f"{diff * 100:+.2f} ({low * 100:+.2f} to {high * 100:+.2f}) points"
        print(f"| {name} | {value:.2%} | {change} |")
    if args.json:
        write_json(args.json, measure, rows, argv if argv is not None else sys.argv[1:])
    return 0


def write_json(path, measure, rows, argv):
    """The rows of one comparison as JSON: each run's value and its paired difference to the first."""
    import json

    from mimic_keras.console import command_line

    out = {"kind": "intervals", "command": command_line("experiments/paired_ci.py", argv), "measure": measure, "rows": [
        {"workdir": workdir, "stage": stage, "value": value, "difference": diff,
         "paired_ci95": None if diff is None else [low, high]}
        for (workdir, stage), value, diff, low, high in rows]}
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
