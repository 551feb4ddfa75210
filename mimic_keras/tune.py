"""Hyperparameter search for mimics: `python -m mimic_keras.tune --preset NAME --max-trials N`.

Searches the linear bottleneck k, the hidden width H, the conv filters (image mimics), the
learning rate and its schedule with keras-tuner (Hyperband by default; `--tuner bayesian` or
`random`). The objective is the mimic's own loss on held-out data, the validation L2 on the
teacher's logits (`val_loss` of the `Distiller`); validation accuracy is recorded beside it.
Trials run through the same `Distiller` and cached-logit pipeline as `mimic_keras.fit`, under
the run's strategy. With `--budget-params P` no candidate over P parameters is ever built.

It works on a run whose `label` stage is done and writes, under workdir/tune/:

    trial_<id>/logs/      TensorBoard logs of each trial (with the HParams dashboard)
    trials.md, trials.json  every trial (params, k, H, lr, objective, accuracy), failed and
                          skipped candidates included
    best_preset.json      the best trial's full config, for `mimic_keras.fit --preset FILE`
    search.json           what the search was (space, budget, config), to resume it safely

Example:
    python -m mimic_keras.tune --preset cifar10-quick --max-trials 20 --budget-params 600000
    python -m mimic_keras.fit mimic --force --preset runs/cifar10-quick/tune/best_preset.json \\
        --workdir runs/cifar10-quick
"""

import argparse
import dataclasses
import itertools
import json
import math
import os
import shlex
import sys

import keras
import keras_tuner

from mimic_keras import config as config_lib
from mimic_keras import training
from mimic_keras.data.writer import write_json_atomic
from mimic_keras.distiller import Distiller
from mimic_keras.models.mimics import build_mimic, mimic_param_count

TUNERS = ("hyperband", "bayesian", "random")
OBJECTIVE = "val_loss"  # the Distiller's loss (l2_logits) on the validation transfer split
_MAX_DRAWS = 1000  # random draws per proposal before the budget is deemed to exclude everything


class SearchError(RuntimeError):
    """Raised when a search produced no usable trial or was stopped by failures."""


@dataclasses.dataclass
class SearchSpace:
    """What the search varies. Integer fields are choices; `learning_rate` is a log range.

    Args:
        bottleneck: choices of k (0 removes the linear bottleneck).
        hidden: choices of H.
        conv_filters: choices of conv filters; empty keeps the config's (MLP mimics have none).
        learning_rate: (low, high) of a log-uniform range; equal ends fix it.
        schedule: learning-rate schedules to try (`cosine`, `constant`).

    Example:
    ```python
    space = SearchSpace.around(config.get_preset("cifar10-quick"))  # centred on the preset
    space = dataclasses.replace(space, hidden=(512, 1024, 2048))
    ```
    """

    bottleneck: tuple = (0, 64, 128)
    hidden: tuple = (256, 512, 1024)
    conv_filters: tuple = ()
    learning_rate: tuple = (1e-4, 1e-2)
    schedule: tuple = ("cosine", "constant")

    @classmethod
    def around(cls, cfg):
        """A space centred on the config's mimic: k and H halved and doubled, lr ×/÷ 10."""
        mimic, lr = cfg.mimic, cfg.mimic_train.learning_rate
        k, h, f = mimic.bottleneck, mimic.hidden, mimic.conv_filters
        return cls(
            bottleneck=(0, *_sizes(k // 2, k, 2 * k)),
            hidden=_sizes(h // 2, h, 2 * h),
            conv_filters=_sizes(f // 2, f, 2 * f) if f else (),
            learning_rate=(lr / 10, lr * 10),
        )

    def validate(self, cfg):
        """Raises ValueError for a space that cannot be searched for `cfg`'s mimic."""
        if not self.bottleneck or not self.hidden or not self.schedule:
            raise ValueError("the search space needs at least one bottleneck, hidden and schedule value")
        if min(self.bottleneck) < 0 or min(self.hidden) < 1 or (self.conv_filters and min(self.conv_filters) < 1):
            raise ValueError("bottleneck must be >= 0, hidden and conv filters >= 1")
        if self.conv_filters and not cfg.mimic.conv_filters:
            raise ValueError("conv filters cannot be searched for a mimic without a conv layer (conv_filters=0)")
        low, high = self.learning_rate
        if not 0 < low <= high:
            raise ValueError(f"learning-rate range must satisfy 0 < low <= high, got {low}, {high}")
        for name in self.schedule:
            if name not in ("cosine", "constant"):
                raise ValueError(f"unknown schedule {name!r}; choose cosine or constant")

    def architectures(self):
        """Every (bottleneck, hidden, conv_filters) combination, as value dicts."""
        filters = self.conv_filters or (None,)
        for k, h, f in itertools.product(self.bottleneck, self.hidden, filters):
            yield {"bottleneck": k, "hidden": h, **({"conv_filters": f} if f is not None else {})}

    def declare(self, hp, default):
        """Declares the hyperparameters on `hp` and returns this trial's values.

        Args:
            hp: a `keras_tuner.HyperParameters`.
            default: the architecture (see `architectures`) keras-tuner builds before the search.
        """
        values = {
            "bottleneck": hp.Choice("bottleneck", list(self.bottleneck), default=default["bottleneck"]),
            "hidden": hp.Choice("hidden", list(self.hidden), default=default["hidden"]),
        }
        if self.conv_filters:
            values["conv_filters"] = hp.Choice(
                "conv_filters", list(self.conv_filters), default=default["conv_filters"]
            )
        low, high = self.learning_rate
        values["learning_rate"] = (
            hp.Fixed("learning_rate", low) if low == high else hp.Float("learning_rate", low, high, sampling="log")
        )
        values["schedule"] = hp.Choice("schedule", list(self.schedule))
        return values


def _sizes(*values):
    return tuple(sorted({v for v in values if v > 0}))


# Each searched value: the config section it goes to, and its type.
_FIELDS = {"bottleneck": ("mimic", int), "hidden": ("mimic", int), "conv_filters": ("mimic", int),
           "learning_rate": ("mimic_train", float), "schedule": ("mimic_train", str)}


def apply_values(cfg, values):
    """The config with a trial's values (k, H, conv filters, lr, schedule) put in; others kept."""
    changes = {"mimic": {}, "mimic_train": {}}
    for name, (section, cast) in _FIELDS.items():
        if values.get(name) is not None:
            changes[section][name] = cast(values[name])
    return dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s), **c) for s, c in changes.items()})


def count_params(cfg, values, input_shape):
    """Parameters of the mimic a trial's values describe, from the formula (nothing is built)."""
    trial_cfg = apply_values(cfg, values)
    return mimic_param_count(trial_cfg.mimic, trial_cfg.num_classes, input_shape)


def _architecture_key(values):
    return json.dumps({k: values[k] for k in ("bottleneck", "hidden", "conv_filters") if k in values}, sort_keys=True)


class _WithinBudget:
    """Oracle mixin: proposes only candidates whose mimic fits the parameter budget.

    An over-budget draw never becomes a trial (keras-tuner would spend a trial, and a failure
    towards `max_consecutive_failed_trials`, on each); it is tallied in `skipped` per
    architecture and drawn again.
    """

    def __init__(self, *, sizer, budget, max_trials, **kwargs):
        super().__init__(**kwargs)
        self.sizer, self.budget, self.max_trials = sizer, budget, max_trials
        self.skipped = {}

    def _admit(self, values):
        """True when the candidate fits; otherwise tallies it in `skipped`."""
        if self.budget is None:
            return True
        params = self.sizer(values)
        if params <= self.budget:
            return True
        key = _architecture_key(values)
        entry = self.skipped.setdefault(key, {**json.loads(key), "params": params, "draws": 0})
        entry["draws"] += 1
        return False

    def _random_values(self):
        # Random search, Hyperband's new candidates and Bayesian's initial points come from here.
        for _ in range(_MAX_DRAWS):
            values = super()._random_values()
            if values is None or self._admit(values):
                return values
        return None

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        if response.get("values") and not self._admit(response["values"]):
            # Bayesian optimisation proposes points directly, and its Gaussian process does not
            # learn the budget: an over-budget proposal is replaced by a random one that fits.
            values = self._random_values()
            response = {"status": "RUNNING", "values": values} if values else {"status": "STOPPED", "values": None}
        return response

    def get_state(self):
        return {**super().get_state(), "skipped": list(self.skipped.values())}

    def set_state(self, state):
        super().set_state(state)
        self.skipped = {_architecture_key(s): s for s in state.get("skipped", [])}


class _HyperbandOracle(_WithinBudget, keras_tuner.oracles.HyperbandOracle):
    pass


class _BayesianOracle(_WithinBudget, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class _RandomOracle(_WithinBudget, keras_tuner.oracles.RandomSearchOracle):
    pass


class MimicHyperModel(keras_tuner.HyperModel):
    """Builds one trial's mimic inside a compiled `Distiller`, as `mimic_keras.fit` does.

    Args:
        cfg: the run's `ExperimentConfig`; the trial's values replace k, H, filters, lr, schedule.
        space: the `SearchSpace`.
        default: the architecture to declare as default (in the budget).
        input_shape: one example's shape.
        steps_per_epoch: training steps per epoch (for the cosine schedule's length).
        budget: parameter budget or None; a candidate over it raises `FailedTrialError` unbuilt.
    """

    def __init__(self, cfg, space, default, input_shape, steps_per_epoch, budget=None):
        super().__init__(name="mimic")
        self.cfg, self.space, self.default = cfg, space, default
        self.input_shape, self.steps_per_epoch, self.budget = input_shape, steps_per_epoch, budget

    def build(self, hp):
        cfg = apply_values(self.cfg, self.space.declare(hp, self.default))
        params = mimic_param_count(cfg.mimic, cfg.num_classes, self.input_shape)
        if self.budget is not None and params > self.budget:
            # The oracle never proposes these; this guards a resumed or hand-made trial.
            raise keras_tuner.errors.FailedTrialError(f"over budget: {params:,} > {self.budget:,} parameters")
        keras.utils.set_random_seed(cfg.mimic_train.seed)  # every trial starts from the same draw
        student = build_mimic(cfg.mimic, cfg.num_classes, input_shape=self.input_shape, name="mimic")
        distiller = Distiller(
            student, loss=cfg.distill.loss, alpha=cfg.distill.alpha, temperature=cfg.distill.temperature
        )
        # The cosine schedule spans mimic_train.epochs, Hyperband's max_epochs: a short trial sees
        # its start. The optimiser is built now so that a trial Hyperband promotes reloads its
        # state with the weights and goes on along the same schedule.
        distiller.compile(
            optimizer=training.make_optimizer(cfg.mimic_train, self.steps_per_epoch),
            jit_compile=cfg.jit_compile, steps_per_execution=cfg.steps_per_execution,
        )
        distiller.optimizer.build(distiller.trainable_variables)
        return distiller


class MimicTuner(keras_tuner.Hyperband):
    """Runs trials for any of our oracles and logs each under its own trial folder.

    Hyperband's `run_trial` and `_build_hypermodel` act only on the `tuner/*` values that
    Hyperband's oracle sets (epochs, the trial to continue), so this one class serves every
    oracle; `__init__` takes the oracle rather than making a `HyperbandOracle`.
    """

    def __init__(self, oracle, hypermodel, **kwargs):
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)

    def _get_tensorboard_dir(self, logdir, trial_id, execution):
        return os.path.join(self.get_trial_dir(trial_id), "logs")


def _oracle(name, sizer, budget, max_trials, max_epochs, factor, seed):
    common = {"objective": keras_tuner.Objective(OBJECTIVE, "min"), "seed": seed, "sizer": sizer,
              "budget": budget, "max_trials": max_trials}
    if name == "hyperband":
        # Brackets repeat until max_trials trials have run.
        return _HyperbandOracle(max_epochs=max_epochs, factor=factor, hyperband_iterations=math.inf, **common)
    if name == "bayesian":
        return _BayesianOracle(**common)
    if name == "random":
        return _RandomOracle(**common)
    raise ValueError(f"unknown tuner {name!r}; choose from {', '.join(TUNERS)}")


def search(run, space, max_trials, budget=None, tuner="hyperband", factor=3, seed=1, overwrite=False):
    """Searches mimics for a run whose transfer set is labelled, and writes workdir/tune/.

    Args:
        run: a `mimic_keras.stages.Run` whose `label` stage is done.
        space: a `SearchSpace`.
        max_trials: most trials to run (Hyperband counts each promotion as a trial).
        budget: most parameters a candidate may have, or None.
        tuner: `hyperband`, `bayesian` or `random`.
        factor: Hyperband's reduction factor (max epochs = `mimic_train.epochs`).
        seed: the tuner's random seed (keras-tuner takes 0 as "none").
        overwrite: start afresh; otherwise a search left in workdir/tune is resumed.

    Returns:
        A summary dict: `trials` (rows, see `trial_rows`), `skipped`, `best` (a row or None),
        `best_preset` (its path) and the paths of the tables.

    Raises:
        SearchError: when no trial completed or failures stopped the search (the tables are
            written first); ValueError when no candidate fits the budget or the space does not
            match the search being resumed.
    """
    from mimic_keras.tasks import transfer_datasets  # imports the data pipeline

    cfg = run.cfg
    space.validate(cfg)
    strategy = run.strategy  # first: it sets the mixed-precision policy too
    train, val, count = transfer_datasets(run, cfg.mimic_train)
    input_shape = tuple(int(d) for d in train.element_spec[0].shape[1:])

    def sizer(values):
        return count_params(cfg, values, input_shape)

    default = _default_architecture(cfg, space, sizer, budget)
    tune_dir = run.path("tune")
    described = json.loads(json.dumps({  # as JSON has it: tuples become lists
        "space": dataclasses.asdict(space), "budget_params": budget, "tuner": tuner, "factor": factor, "seed": seed,
        "config": config_lib.to_dict(cfg),
    }))
    _check_resumable(tune_dir, described, overwrite)

    oracle = _oracle(tuner, sizer, budget, max_trials, cfg.mimic_train.epochs, factor, seed)
    steps = training.steps_for(count, cfg.mimic_train.batch_size)
    hypermodel = MimicHyperModel(cfg, space, default, input_shape, steps, budget)
    kt = MimicTuner(oracle, hypermodel, distribution_strategy=strategy, directory=run.workdir, project_name="tune",
                    overwrite=overwrite)
    os.makedirs(tune_dir, exist_ok=True)  # overwrite removed it
    write_json_atomic(os.path.join(tune_dir, "search.json"), described)
    stopped = None
    try:
        kt.search(
            train, validation_data=val, epochs=cfg.mimic_train.epochs, verbose=training.verbosity(),
            callbacks=[
                training.StopOnNonFiniteLoss("tune"),
                # keras-tuner moves it to trial_<id>/logs (see MimicTuner) and adds HParams.
                keras.callbacks.TensorBoard(tune_dir, write_graph=False, profile_batch=0),
            ],
        )
    except RuntimeError as e:
        if "consecutive failures" not in str(e):
            raise
        stopped = str(e).splitlines()[0]
    return _write_results(run, kt, sizer, budget, stopped)


def _default_architecture(cfg, space, sizer, budget):
    """The centre of the space when it fits the budget, else the smallest candidate."""
    candidates = list(space.architectures())
    fitting = [a for a in candidates if budget is None or sizer(a) <= budget]
    if not fitting:
        smallest = min(sizer(a) for a in candidates)
        raise ValueError(
            f"no candidate in the search space fits the budget of {budget:,} parameters "
            f"(the smallest has {smallest:,}); widen the space or raise --budget-params"
        )
    centre = {"bottleneck": cfg.mimic.bottleneck, "hidden": cfg.mimic.hidden}
    if space.conv_filters:
        centre["conv_filters"] = cfg.mimic.conv_filters
    return centre if centre in fitting else min(fitting, key=sizer)


def _check_resumable(tune_dir, described, overwrite):
    path = os.path.join(tune_dir, "search.json")
    if overwrite or not os.path.exists(path):
        return
    with open(path) as f:
        before = json.load(f)
    if before != described:
        changed = sorted(k for k in described if before.get(k) != described[k])
        raise ValueError(
            f"{tune_dir} holds a search with another {', '.join(changed)}; pass --overwrite to start afresh"
        )


def trial_rows(oracle, sizer, epochs):
    """One row per trial: status, params, k, H, filters, lr, schedule, epochs, objective, accuracy.

    Args:
        oracle: the search's oracle.
        sizer: values → parameter count.
        epochs: epochs of a trial that Hyperband did not set.
    """
    rows = []
    for trial in sorted(oracle.trials.values(), key=lambda t: t.trial_id):
        values = trial.hyperparameters.values
        metrics = trial.metrics
        row = {
            "trial": trial.trial_id,
            "status": trial.status,
            "params": sizer(values),
            "bottleneck": values.get("bottleneck"),
            "hidden": values.get("hidden"),
            "conv_filters": values.get("conv_filters"),
            "learning_rate": values.get("learning_rate"),
            "schedule": values.get("schedule"),
            "epochs": values.get("tuner/epochs", epochs),
            "continues": values.get("tuner/trial_id"),
            OBJECTIVE: metrics.get_last_value(OBJECTIVE) if metrics.exists(OBJECTIVE) else None,
            "val_accuracy": metrics.get_last_value("val_accuracy") if metrics.exists("val_accuracy") else None,
            "error": _last_line(trial.message) if trial.status != "COMPLETED" else None,
        }
        rows.append(row)
    return rows


def _last_line(message):
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def _write_results(run, kt, sizer, budget, stopped):
    oracle, tune_dir = kt.oracle, run.path("tune")
    rows = trial_rows(oracle, sizer, run.cfg.mimic_train.epochs)
    skipped = sorted(oracle.skipped.values(), key=lambda s: s["params"])
    completed = [r for r in rows if r["status"] == "COMPLETED" and r[OBJECTIVE] is not None]
    best = min(completed, key=lambda r: r[OBJECTIVE]) if completed else None
    summary = {
        "objective": OBJECTIVE, "budget_params": budget, "best": best, "trials": rows, "skipped": skipped,
        "stopped": stopped, "table": os.path.join(tune_dir, "trials.md"), "best_preset": None,
    }
    if best is not None:
        best_cfg = apply_values(run.cfg, best)
        summary["best_preset"] = os.path.join(tune_dir, "best_preset.json")
        write_json_atomic(summary["best_preset"], config_lib.to_dict(best_cfg))
    write_json_atomic(os.path.join(tune_dir, "trials.json"), summary)
    with open(summary["table"], "w") as f:
        f.write(markdown_table(summary))
    failed = [r for r in rows if r["status"] != "COMPLETED"]
    listing = "\n".join(f"  trial {r['trial']}: {r['status']}: {r['error']}" for r in failed)
    if not rows:
        raise SearchError(f"no trial ran (every candidate drawn was over the budget?); see {summary['table']}")
    if best is None:
        raise SearchError(f"all {len(rows)} trials failed (see {summary['table']}):\n{listing}")
    if stopped:
        raise SearchError(f"the search stopped: {stopped} (see {summary['table']}):\n{listing}")
    summary["failed"] = failed
    return summary


def markdown_table(summary):
    """The trials as a Markdown table: completed ones by objective, then failed, then skipped."""
    budget = summary["budget_params"]
    lines = [
        f"Objective: `{OBJECTIVE}` (validation L2 on the teacher's logits, lower is better). "
        f"Budget: {f'{budget:,} parameters' if budget else 'none'}.",
        "",
        "| trial | status | params | k | H | filters | lr | schedule | epochs | val L2 | val accuracy | note |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    best = summary["best"]
    rows = sorted(summary["trials"], key=lambda r: (r["status"] != "COMPLETED", r[OBJECTIVE] or math.inf, r["trial"]))
    for r in rows:
        note = "best" if best and r["trial"] == best["trial"] else (r["error"] or "")
        if r["continues"]:
            note = f"{note}; continues trial {r['continues']}".lstrip("; ")
        lines.append(
            f"| {r['trial']} | {r['status']} | {r['params']:,} | {r['bottleneck']} | {r['hidden']} | "
            f"{_cell(r['conv_filters'])} | {_cell(r['learning_rate'], '.2e')} | {r['schedule']} | {r['epochs']} | "
            f"{_cell(r[OBJECTIVE], '.4f')} | {_cell(r['val_accuracy'], '.4f')} | {note.replace('|', '/')} |"
        )
    for s in summary["skipped"]:
        lines.append(
            f"| - | SKIPPED | {s['params']:,} | {s['bottleneck']} | {s['hidden']} | {_cell(s.get('conv_filters'))} "
            f"| | | | | | over budget, drawn {s['draws']}x, never built |"
        )
    return "\n".join(lines) + "\n"


def _cell(value, fmt=""):
    return "" if value is None else format(value, fmt)


# -- the CLI ---------------------------------------------------------------------------------


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def _floats(text):
    values = tuple(float(v) for v in text.split(","))
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError("give LOW,HIGH or one value")
    return values if len(values) == 2 else values * 2


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m mimic_keras.tune", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--preset", required=True, help=f"{', '.join(sorted(config_lib.PRESETS))}, or a .json config")
    parser.add_argument("--workdir", default=None, help="the run folder with a labelled transfer set "
                        "(default: runs/<preset name>)")
    parser.add_argument("--max-trials", type=int, required=True, help="most trials to run")
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
    from mimic_keras.stages import Run

    args = parse_args(argv)
    try:
        cfg = config_lib.apply_overrides(config_lib.get_preset(args.preset), args.overrides)
        space = space_from_args(args, cfg)
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    workdir = args.workdir or os.path.join("runs", cfg.name)
    run = Run(cfg, workdir)
    missing = [stage for stage in ("prepare", "teacher", "label") if not run.is_done(stage)]
    if missing:
        tail = shlex.join(["--preset", args.preset, "--workdir", workdir, *args.overrides])
        commands = "\n".join(f"  python -m mimic_keras.fit {stage} {tail}" for stage in missing)
        print(f"error: {workdir} has no labelled transfer set to tune on; run first:\n{commands}", file=sys.stderr)
        return 1
    try:
        summary = search(run, space, args.max_trials, budget=args.budget_params, tuner=args.tuner,
                         factor=args.factor, seed=args.seed, overwrite=args.overwrite)
    except SearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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


if __name__ == "__main__":
    sys.exit(main())
