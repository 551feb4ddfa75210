"""Runs a search over a labelled run: the tuner, the budget's default, resuming, the results.

(Named `runner`, not `search`, so that `mimic_keras.tune.search` stays the function.)
"""

import dataclasses
import json
import os
import time

import keras
import keras_tuner

from mimic_keras import config as config_lib
from mimic_keras import training
from mimic_keras.data.writer import write_json_atomic
from mimic_keras.tune.hypermodel import MimicHyperModel
from mimic_keras.tune.oracles import make_oracle
from mimic_keras.tune.results import write_results
from mimic_keras.tune.space import count_params


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


def search(cfg, layout, strategy, space, max_trials, budget=None, tuner="hyperband", factor=3, seed=1, overwrite=False,
           max_seconds=None):
    """Searches mimics for a run whose transfer set is labelled, and writes workdir/tune/.

    Args:
        cfg: the run's `ExperimentConfig`.
        layout: the run's `Layout`; its `label` stage must be done.
        strategy: the strategy built for the run (`mimic_keras.distribute.setup`).
        space: a `SearchSpace`.
        max_trials: most trials to run (Hyperband counts each promotion as a trial).
        budget: most parameters a candidate may have, or None.
        tuner: `hyperband`, `bayesian` or `random`.
        factor: Hyperband's reduction factor (max epochs = `mimic_train.epochs`).
        seed: the tuner's random seed (keras-tuner takes 0 as "none").
        overwrite: start afresh; otherwise a search left in workdir/tune is resumed.
        max_seconds: no trial starts after this many seconds (None: bounded by trials only).

    Returns:
        A summary dict: `trials` (rows, see `trial_rows`), `skipped`, `best` (a row or None),
        `best_preset` (its path) and the paths of the tables.

    Raises:
        SearchError: when no trial completed or failures stopped the search (the tables are
            written first); ValueError when no candidate fits the budget or the space does not
            match the search being resumed.
    """
    from mimic_keras.tasks import get_task
    from mimic_keras.tasks.training import transfer_datasets  # imports the data pipeline

    if max_trials < 1:
        raise ValueError(f"max_trials {max_trials}: must be at least 1")
    space.validate(cfg)
    task = get_task(cfg)
    train, val, count = transfer_datasets(task, layout, cfg.mimic_train)
    input_shape = tuple(int(d) for d in train.element_spec[0].shape[1:])

    def sizer(values):
        return count_params(cfg, values, input_shape)

    default = _default_architecture(cfg, space, sizer, budget)
    tune_dir = layout.tune
    described = json.loads(json.dumps({  # as JSON has it: tuples become lists
        "space": dataclasses.asdict(space), "budget_params": budget, "tuner": tuner, "factor": factor, "seed": seed,
        "config": config_lib.to_dict(cfg),
    }))
    _check_resumable(tune_dir, described, overwrite)

    oracle = make_oracle(tuner, sizer, budget, max_trials, cfg.mimic_train.epochs, factor, seed)
    if max_seconds is not None:
        oracle.deadline = time.time() + max_seconds
    steps = training.steps_for(count, cfg.mimic_train.batch_size)
    hypermodel = MimicHyperModel(cfg, space, default, input_shape, steps, budget, task=task)
    kt = MimicTuner(oracle, hypermodel, distribution_strategy=strategy, directory=layout.workdir, project_name="tune",
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
    return write_results(cfg, layout, kt, sizer, budget, stopped)


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
