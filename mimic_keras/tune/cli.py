"""The CLI, `python -m mimic_keras.tune`: flags to a `SearchSpace`, then `search`.

Its help is the package's docstring (`mimic_keras.tune`).
"""

import argparse
import dataclasses
import json
import os
import shlex
import sys

from mimic_keras import console, runtime

if console.launched_with_dash_m():  # `python -m mimic_keras.tune`: quiet before TensorFlow loads
    runtime.configure()
    console.quiet(verbose="--verbose" in sys.argv[1:])

from mimic_keras import config as config_lib  # noqa: E402
from mimic_keras.tune.oracles import OBJECTIVE, TUNERS  # noqa: E402
from mimic_keras.tune.results import SearchError  # noqa: E402
from mimic_keras.tune.runner import search  # noqa: E402
from mimic_keras.tune.space import SearchSpace  # noqa: E402


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def _floats(text):
    values = tuple(float(v) for v in text.split(","))
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError("give LOW,HIGH or one value")
    return values if len(values) == 2 else values * 2


def parse_args(argv):
    from mimic_keras import tune  # the package: its docstring is the help

    parser = argparse.ArgumentParser(
        prog="python -m mimic_keras.tune", description=tune.__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=tune.__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--preset", default=None, help=f"{', '.join(config_lib.preset_names())}, or a .json config "
                        "(default: WORKDIR/config.json; an existing workdir's config is the base)")
    parser.add_argument("--workdir", default=None, help="the run folder with a labelled transfer set "
                        "(default: runs/<preset name>)")
    parser.add_argument("--max-trials", type=int, required=True, help="most trials to run")
    parser.add_argument("--max-minutes", type=float, default=720.0,
                        help="no trial starts after this many minutes (default 720: every search is bounded)")
    parser.add_argument("--budget-params", type=int, default=None, help="most parameters a candidate may have")
    parser.add_argument("--tuner", choices=TUNERS, default="hyperband")
    parser.add_argument("--factor", type=int, default=3, help="Hyperband's reduction factor (default 3)")
    parser.add_argument("--bottleneck", type=_ints, help="k choices, e.g. 0,64,128 (default: around the preset's)")
    parser.add_argument("--hidden", type=_ints, help="H choices, e.g. 512,1024,2048")
    parser.add_argument("--conv-filters", type=_ints, help="conv filter choices (mimics with a conv layer)")
    parser.add_argument("--lr", type=_floats, help="learning-rate range LOW,HIGH, log-uniform (or one value)")
    parser.add_argument("--schedules", type=lambda t: tuple(t.split(",")), help="e.g. cosine,constant")
    parser.add_argument("--seed", type=int, default=1, help="the tuner's seed (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming workdir/tune")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ logs and every warning")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip checking shards against their manifests' counts and sha256 when read")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. mimic_train.epochs=6")
    return parser.parse_intermixed_args(argv)


def space_from_args(args, cfg):
    """The preset-centred space with the flags that were given put in."""
    space = SearchSpace.around(cfg)
    given = {"bottleneck": args.bottleneck, "hidden": args.hidden, "conv_filters": args.conv_filters,
             "learning_rate": args.lr, "schedule": args.schedules}
    space = dataclasses.replace(space, **{k: v for k, v in given.items() if v is not None})
    space.validate(cfg)
    return space


def main(argv=None):
    from mimic_keras.fit import resolve

    args = parse_args(argv)
    if args.max_trials < 1:
        print(f"error: --max-trials {args.max_trials}: must be at least 1", file=sys.stderr)
        return 2
    if not args.max_minutes > 0:
        print(f"error: --max-minutes {args.max_minutes}: must be above 0", file=sys.stderr)
        return 2
    try:
        cfg, workdir, _ = resolve(args.preset, args.workdir, args.overrides)
        space = space_from_args(args, cfg)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from mimic_keras import locks, runner
    from mimic_keras.data import verify

    verify.set_enabled(not args.no_verify)
    def locked():
        with locks.hold_folder(workdir):  # a fit or another search would corrupt it
            return _tune(args, cfg, workdir, space)

    return runner.guarded(locked, args.debug, user_errors=(ValueError, OSError, KeyError))

def _tune(args, cfg, workdir, space):
    from mimic_keras import stages  # imports TensorFlow
    from mimic_keras.distribute import setup
    from mimic_keras.layout import Layout

    layout = Layout(workdir)
    missing = [stage for stage in ("prepare", "teacher", "label") if not stages.check(stage, cfg, layout).up_to_date]
    if missing:
        tail = shlex.join(["--workdir", workdir, *args.overrides] if os.path.exists(layout.config)
                          else ["--preset", args.preset or cfg.name, "--workdir", workdir, *args.overrides])
        commands = "\n".join(f"  python -m mimic_keras.fit {stage} {tail}" for stage in missing)
        print(f"error: {workdir} has no labelled transfer set to tune on; run first:\n{commands}", file=sys.stderr)
        return 2
    try:
        summary = search(cfg, layout, setup(cfg), space, args.max_trials, budget=args.budget_params,
                         tuner=args.tuner, factor=args.factor, seed=args.seed, overwrite=args.overwrite,
                         max_seconds=args.max_minutes * 60)
    except SearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with open(summary["table"]) as f:
        print(f.read())
    if summary["failed"]:
        listing = "\n".join(f"  trial {r['trial']}: {r['error']}" for r in summary["failed"])
        counts = f"{len(summary['failed'])} of {len(summary['trials'])}"
        print(f"warning: {counts} trials failed:\n{listing}", file=sys.stderr)
    print(f"next: python -m mimic_keras.fit mimic --force --preset {summary['best_preset']} --workdir {workdir}")
    print(json.dumps({"best_preset": os.path.abspath(summary["best_preset"]), "best_trial": summary["best"]["trial"],
                      OBJECTIVE: summary["best"][OBJECTIVE]}))
    return 0
