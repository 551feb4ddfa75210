"""Scores a run's own teachers (and their ensemble) as a sweep scores a variant's, into a JSON table.

A sweep that trains or is given teachers (`mimic_sweep.py --stage teacher`, `--teachers`) stores
their scores in its rows; the teachers a base run trained itself (`fit teacher`) are stored
nowhere, so their paired intervals against the sweeps' students could not be traced. This
scores them with the same code (`mimic_sweep._teacher_rows`: for TIMIT, state frame accuracy,
PER with the decoder tuned on dev, and each test speaker's phone errors) and writes one row,

    {"base": WORKDIR, "rows": [{"variant": NAME, "stage": "teacher", "teachers": [...]}]}

so that `experiments/stored_intervals.py` pairs `OUT.json:NAME/teacher_0` (or `/ensemble`) with
any other stored row of the same test set.

    python experiments/score_teachers.py runs/timit-full --name base \
        --json docs/experiments/timit_full_rebuilt_teachers.json
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def table(workdir, name):
    """The JSON table of `workdir`'s teachers as one row named `name`."""
    from mimic_sweep import _teacher_rows

    return {"base": os.path.abspath(workdir), "rows": [{"variant": name, "stage": "teacher",
                                                       "teachers": _teacher_rows(workdir)}]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", help="a run whose teacher stage is done")
    parser.add_argument("--name", default="base", help="the row's name (the part before / in a reference)")
    parser.add_argument("--json", required=True, help="where to write the table")
    args = parser.parse_args(argv)

    from mimic_keras import console
    from mimic_keras.atomic import write_json_atomic

    console.quiet()
    data = table(args.workdir, args.name)
    write_json_atomic(args.json, data)
    for row in data["rows"][0]["teachers"]:
        per = f", PER {row['test_per']:.2%}" if "test_per" in row else ""
        print(f"{row['teacher']}: test accuracy {row['test_accuracy']:.2%}{per}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
