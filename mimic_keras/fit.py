"""The training CLI: `python -m mimic_keras.fit STAGE [--preset NAME] [--workdir DIR] [key=value ...]`.

Stages, in order (`all` runs them all but `report`):

    prepare   raw data → TFRecords                     (workdir/data/)
    teacher   train the teacher(s)                     (workdir/teacher/teacher_<i>/model.keras)
    label     teacher logits over the transfer set     (workdir/transfer/)
    mimic     shallow net on the teacher's logits      (workdir/mimic/model.keras)
    control   the same shallow net on the labels       (workdir/control/model.keras; control_train.data=transfer:
              the transfer set's labels, after label)
    evaluate  accuracy (and PER for TIMIT), params     (workdir/report.json, report.md, curves.png)
    export    mimic (and teacher) as SavedModels       (saved_models/<name>/<version>/; export.tflite=: LiteRT
              and its test scores, workdir/litert.md)
    report    redraw curves.png, hidden.png from report.json and print the results table (and litert.md)
    config    print the resolved config: every field, its value and what it does

A stage is redone when the config fields it reads or the stages before it changed since its
outputs were made, and each says why (`[mimic] rerun: mimic.hidden 512 → 100`); `--force` redoes
it anyway. In an existing workdir its config.json is the base and the overrides apply on top
(`--preset NAME` picks the config of a new workdir; `--preset FILE.json` replaces the config).

Examples:
    python -m mimic_keras.fit all --preset cifar10-quick data.source=../shared/data/cifar10-jpeg.tar
    python -m mimic_keras.fit all --preset cifar10-quick mimic.hidden=1024   # redoes mimic and after
    python -m mimic_keras.fit all --preset timit-quick --timit ../shared/data/timit-standin
    python -m mimic_keras.fit config --preset cifar10-cpu
    python -m mimic_keras.fit report --workdir runs/cifar10-quick
"""

import argparse
import json
import os
import sys
import time

from mimic_keras import config as config_lib
from mimic_keras import console, locks, runtime
from mimic_keras.config_schema import ConfigError, describe
from mimic_keras.layout import Layout
from mimic_keras.stages import PIPELINE  # the stage table; nothing in it loads TensorFlow

COMMANDS = PIPELINE + ("all", "report", "config")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m mimic_keras.fit", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("stage", choices=COMMANDS)
    parser.add_argument("--preset", default=None,
                        help=f"{', '.join(config_lib.preset_names())}, or a .json config "
                             "(default: WORKDIR/config.json)")
    parser.add_argument("--workdir", default=None, help="run folder (default: runs/<preset name>)")
    parser.add_argument("--force", action="store_true", help="redo the stage(s) even when up to date")
    parser.add_argument("--timit", default=None, metavar="ROOT", help="a TIMIT copy (sets data.source; timit presets)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines and library warnings")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip checking shards against their manifests' counts and sha256 when read")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. mimic.hidden=4000")
    return parser.parse_intermixed_args(argv)


def resolve(preset, workdir, overrides):
    """(config, workdir, note): the workdir's own config is the base of a rerun in it.

    Raises:
        ConfigError: no config to start from, or a bad override.
    """
    is_file = preset is not None and (preset.endswith(".json") or os.path.sep in preset)
    if workdir is None:
        if preset is None:
            raise ConfigError("--preset is needed (or a --workdir holding a config.json)")
        workdir = os.path.join("runs", config_lib.get_preset(preset).name)
    existing = Layout(workdir).config
    note = None
    if is_file or not os.path.exists(existing):
        if preset is None:
            raise ConfigError(f"{workdir} holds no run (no config.json): give --preset")
        base = config_lib.get_preset(preset)
    else:
        base = config_lib.get_preset(existing)
        if preset is not None and preset != base.name:
            note = f"{workdir} has its own config ({base.name}); --preset {preset} applies to new workdirs only"
    return config_lib.apply_overrides(base, overrides), workdir, note


def _worker_member(cfg):
    """`worker_<i>` for a multi-worker run's worker i > 0 (from `TF_CONFIG`), else None."""
    if cfg.strategy != "multi_worker":
        return None
    try:
        index = int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))
    except (ValueError, AttributeError):
        return None
    return f"worker_{index}" if index else None


def main(argv=None):
    args = parse_args(argv)
    runtime.configure()  # oneDNN on (faster here); before TensorFlow is imported
    console.quiet(args.verbose)  # before TensorFlow is imported
    overrides = ([f"data.source={args.timit}"] if args.timit else []) + args.overrides
    if args.stage == "report" and args.preset is None and args.workdir and not os.path.exists(Layout(args.workdir).config):
        print(f"error: stage report: {args.workdir} holds no run (no config.json, no report.json): "
              "run the evaluate stage first", file=sys.stderr)
        return 2
    try:
        cfg, workdir, note = resolve(args.preset, args.workdir, overrides)
        if args.timit and cfg.data.dataset != "timit":
            raise ConfigError(f"--timit needs a TIMIT preset; {cfg.name} is {cfg.data.dataset}")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.stage == "config":
        print(describe(cfg))
        return 0
    from mimic_keras import runner  # imports TensorFlow
    from mimic_keras.data import verify

    verify.set_enabled(not args.no_verify)

    def locked():
        # The lock is held, or the workdir cannot be written: OSError. The workers of one
        # multi-worker run share the workdir by design: the chief holds its lock, each other
        # worker its own.
        with locks.hold_folder(workdir, _worker_member(cfg)):
            if args.stage == "report":
                return runner.report(cfg, Layout(workdir), debug=args.debug)
            stages = PIPELINE if args.stage == "all" else (args.stage,)
            return runner.run_stages(cfg, Layout(workdir), stages, force=args.force, started=time.time(),
                                     debug=args.debug)

    return runner.guarded(locked, args.debug)


if __name__ == "__main__":
    sys.exit(main())
