"""The training CLI: `python -m mimic_keras.fit STAGE --preset NAME [--workdir DIR] [key=value ...]`.

Stages, in order (`all` runs them all but `report`; a stage whose outputs exist is skipped,
`--force` redoes; without `--preset`, the config is the workdir's config.json):

    prepare   raw data → TFRecords                     (workdir/data/)
    teacher   train the teacher(s)                     (workdir/teacher/teacher_<i>/model.keras)
    label     teacher logits over the transfer set     (workdir/transfer/)
    mimic     shallow net on the teacher's logits      (workdir/mimic/model.keras)
    control   the same shallow net on the labels       (workdir/control/model.keras)
    evaluate  accuracy (and PER for TIMIT), params     (workdir/report.json, report.md, curves.png)
    export    mimic (and teacher) as SavedModels       (saved_models/<name>/<version>/)
    report    redraw curves.png, hidden.png from report.json (never skipped; see mimic_keras.plots)

Examples:
    python -m mimic_keras.fit all --preset cifar10-quick data.source=../shared/data/cifar10-jpeg.tar
    python -m mimic_keras.fit all --preset timit-quick --timit ../shared/data/timit-standin
    python -m mimic_keras.fit report --workdir runs/cifar10-quick
"""

import argparse
import json
import os
import subprocess
import sys
import time

from mimic_keras import config as config_lib
from mimic_keras.stages import PIPELINE, STAGES, Run


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m mimic_keras.fit", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("stage", choices=STAGES + ("all",))
    parser.add_argument("--preset", default=None,
                        help=f"{', '.join(sorted(config_lib.PRESETS))}, or a .json config (default: WORKDIR/config.json)")
    parser.add_argument("--workdir", default=None, help="run folder (default: runs/<preset name>)")
    parser.add_argument("--force", action="store_true", help="redo the stage(s) even when outputs exist")
    parser.add_argument("--timit", default=None, metavar="ROOT", help="a TIMIT copy (sets data.source; timit presets)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. mimic.hidden=4000")
    return parser.parse_intermixed_args(argv)


def _workdir_config(workdir):
    path = os.path.join(workdir, "config.json") if workdir else None
    return path if path and os.path.exists(path) else None


def main(argv=None):
    args = parse_args(argv)
    overrides = ([f"data.source={args.timit}"] if args.timit else []) + args.overrides
    preset = args.preset or _workdir_config(args.workdir)
    if preset is None:
        if args.stage == "report" and args.workdir:
            print(f"error: stage report: {args.workdir} holds no run (no config.json, no report.json): "
                  "run the evaluate stage first", file=sys.stderr)
            return 1
        print("error: --preset is needed (or a --workdir holding a config.json)", file=sys.stderr)
        return 2
    try:
        cfg = config_lib.apply_overrides(config_lib.get_preset(preset), overrides)
        if args.timit and cfg.data.dataset != "timit":
            raise ValueError(f"--timit needs a TIMIT preset; {preset} is {cfg.data.dataset}")
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    workdir = args.workdir or os.path.join("runs", cfg.name)
    run = Run(cfg, workdir, force=args.force)
    stages = PIPELINE if args.stage == "all" else (args.stage,)
    for stage in stages:
        started = time.time()
        try:
            did = run.run_stage(stage)
        except subprocess.CalledProcessError as e:
            print(f"error: stage {stage}: {' '.join(e.cmd[1:4])} failed (exit {e.returncode})", file=sys.stderr)
            return 1
        except (ValueError, FileNotFoundError, RuntimeError) as e:
            print(f"error: stage {stage}: {e}", file=sys.stderr)
            return 1
        status = "done" if did else "skipped (outputs exist; --force redoes it)"
        print(f"[{stage}] {status} in {time.time() - started:.1f}s", flush=True)
    if "evaluate" in stages and os.path.exists(run.path("report.md")):
        print(open(run.path("report.md")).read())
    print(json.dumps({"workdir": os.path.abspath(workdir)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
