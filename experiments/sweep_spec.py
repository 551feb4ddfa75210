"""A sweep's definition: the JSON file (or dict) `experiments/mimic_sweep.py` runs, checked and expanded.

    {"name": "losses", "base": "runs/cifar10-cpu", "stage": "mimic", "common": [...],
     "variants": {"NAME": [overrides], ...}, "teachers": {}, "seeds": [], "best_of": null}

`teachers` gives a variant its own teacher files (`{"NAME": [path, ...]}`); `{base}` in a path
stands for the sweep's base run, so a sweep can use the teachers another sweep trained on the
same base (`"{base}-timit_table1_teachers-converged_s0/teacher/teacher_1/model.keras"`) wherever
that base is. The files need to exist only when their variant trains (`missing_teachers`).

`variants(sweep)` lists what to train: each variant once per seed (`seeds`), with `common`
and, for `best_of`, the overrides of that earlier sweep's row with the highest validation
accuracy (from `docs/experiments/<best_of>.json`, which must hold every variant of that sweep,
run on the same base).
"""

import json
import os

KEYS = ("name", "description", "base", "stage", "common", "variants", "teachers", "seeds", "best_of")
# What a sweep retrains: the mimic, the control, or the teachers (and then, as the stage graph
# says, the transfer set's labels and the mimic).
STAGES = ("mimic", "control", "teacher")


def read_sweep(path):
    """A sweep file's dict as written, not yet checked nor expanded (command-line keys go in before `load_sweep`)."""
    with open(path) as f:
        sweep = json.load(f)
    if not isinstance(sweep, dict):
        raise ValueError(f"{path}: a sweep is a JSON object")
    return sweep


def load_sweep(path_or_dict):
    """A sweep as a dict (see the module docstring), checked, `{base}` in its teacher paths filled in."""
    sweep = dict(path_or_dict) if isinstance(path_or_dict, dict) else read_sweep(path_or_dict)
    missing = [key for key in ("name", "base", "variants") if key not in sweep]
    if missing:
        raise ValueError(f"sweep lacks {', '.join(missing)}")
    unknown = sorted(set(sweep) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown sweep key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    if not isinstance(sweep["variants"], dict) or not all(isinstance(v, list) for v in sweep["variants"].values()):
        raise ValueError("sweep variants must be an object of NAME: [overrides]")
    if sweep.setdefault("stage", "mimic") not in STAGES:
        raise ValueError(f"sweep stage {sweep['stage']!r} is not one of: {', '.join(STAGES)}")
    sweep.setdefault("common", [])
    if sweep.setdefault("teachers", {}) and sweep["stage"] == "teacher":
        raise ValueError("sweep teachers: a sweep of stage teacher trains its own teachers")
    seeds = sweep.setdefault("seeds", [])
    if not isinstance(seeds, list) or not all(isinstance(x, int) and x >= 0 for x in seeds):
        raise ValueError(f"sweep seeds must be a list of integers ≥ 0, got {seeds!r}")
    if not isinstance(sweep["teachers"], dict) or not all(isinstance(v, list) for v in sweep["teachers"].values()):
        raise ValueError("sweep teachers must be an object of NAME: [model paths]")
    unknown = sorted(set(sweep["teachers"]) - set(sweep["variants"]))
    if unknown:
        raise ValueError(f"sweep teachers name no variant: {', '.join(unknown)}")
    sweep["teachers"] = {variant: [p.replace("{base}", sweep["base"].rstrip("/")) for p in paths]
                         for variant, paths in sweep["teachers"].items()}
    return sweep


def missing_teachers(sweep, names):
    """ValueError when a teacher file of the variants `names` (of a `load_sweep`ed sweep) does not exist."""
    for variant in names:
        missing = [p for p in sweep["teachers"].get(variant, []) if not os.path.exists(p)]
        if missing:
            raise ValueError(f"teacher files of {variant} not found: {', '.join(missing)}")


def best_overrides(name, base=None, folder="docs/experiments"):
    """The common and variant overrides of sweep `name`'s row with the highest validation accuracy.

    The table must be complete (no variant of `name` left out: the best of a part-run grid is
    not its best) and, when `base` is given, written for that base run.

    Raises:
        ValueError: the sweep has not run yet, has unfinished variants, ran on another base, or
            no row has a validation accuracy.
    """
    path = os.path.join(folder, f"{name}.json")
    if not os.path.exists(path):
        raise ValueError(f"best_of: {path} not found: run sweep {name} first")
    with open(path) as f:
        done = json.load(f)
    if "left_out" not in done:
        raise ValueError(f"best_of: {path} does not say whether every variant of {name} finished (written "
                         f"before tables recorded it): rewrite it with `mimic_sweep.py <{name}'s file> --table`")
    if done["left_out"]:
        raise ValueError(f"best_of: {name}'s variant(s) {', '.join(done['left_out'])} have not finished, so its best "
                         f"row is not known yet: finish them (and rewrite its table) first")
    if base is not None and os.path.realpath(done["base"]) != os.path.realpath(base):
        raise ValueError(f"best_of: {path} was written for base {done['base']}, this sweep's base is {base}: "
                         f"run {name} on {base} first")
    rows = [r for r in done["rows"] if r.get("val_accuracy") is not None]
    if not rows:
        raise ValueError(f"best_of: no row of {path} has a validation accuracy")
    best = max(rows, key=lambda r: r["val_accuracy"])
    print(f"best of {name} by validation accuracy: {best['variant']} ({best['val_accuracy']:.2%})", flush=True)
    return [*done.get("common", []), *best["overrides"].split()]


def variants(sweep, best=None):
    """[(variant, overrides, common)] of a loaded sweep: each variant at each seed, `best_of` resolved.

    Args:
        best: the overrides to use for `best_of` instead of reading them (None: read them).
    """
    if best is None:
        best = best_overrides(sweep["best_of"], sweep["base"]) if sweep.get("best_of") else []
    common = [*sweep["common"], *best]
    runs = []
    for variant, overrides in sweep["variants"].items():
        for seed in sweep["seeds"] or [None]:
            if seed is None:
                runs.append((variant, overrides, common))
            else:
                runs.append((f"{variant}_s{seed}", [*overrides, f"{sweep['stage']}_train.seed={seed}"], common))
    return runs
