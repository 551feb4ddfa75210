"""Budget-aware keras-tuner oracles: Hyperband, Bayesian optimisation and random search.

Each oracle proposes only candidates whose mimic fits the parameter budget; over-budget draws
are tallied as skipped and never become trials. `make_oracle` picks one by the tuner's name.
"""

import json
import math
import time

import keras_tuner

TUNERS = ("hyperband", "bayesian", "random")
OBJECTIVE = "val_loss"  # the Distiller's loss (l2_logits) on the validation transfer split
_MAX_DRAWS = 1000  # random draws per proposal before the budget is deemed to exclude everything


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

    deadline = None  # time.time() after which no trial starts (set by `search`)

    def populate_space(self, trial_id):
        if self.deadline is not None and time.time() >= self.deadline:
            return {"status": "STOPPED", "values": None}  # the search's time is up
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


def make_oracle(name, sizer, budget, max_trials, max_epochs, factor, seed):
    """The budget-aware oracle for tuner `name`, minimising `OBJECTIVE`.

    Args:
        name: one of `TUNERS`.
        sizer: values → parameter count.
        budget: most parameters a candidate may have, or None.
        max_trials: most trials to run.
        max_epochs: Hyperband's most epochs per trial.
        factor: Hyperband's reduction factor.
        seed: the oracle's random seed.
    """
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
