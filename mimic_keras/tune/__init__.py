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

# Layout, one step of the search per module:
#   space.py       SearchSpace; a trial's values put into the config and sized (the budget)
#   oracles.py     budget-aware Hyperband / Bayesian / random oracles; OBJECTIVE, TUNERS
#   hypermodel.py  MimicHyperModel: one trial's mimic in a compiled Distiller
#   runner.py      MimicTuner and search(): runs the search over a labelled run
#   results.py     trials.md, trials.json, best_preset.json; SearchError
#   cli.py         the CLI (__main__.py runs it); its help is this docstring

from mimic_keras.tune.cli import main, parse_args, space_from_args
from mimic_keras.tune.hypermodel import MimicHyperModel
from mimic_keras.tune.oracles import OBJECTIVE, TUNERS, make_oracle
from mimic_keras.tune.results import SearchError, markdown_table, trial_rows, write_results
from mimic_keras.tune.runner import MimicTuner, search
from mimic_keras.tune.space import SearchSpace, apply_values, count_params

__all__ = [
    "OBJECTIVE", "TUNERS", "MimicHyperModel", "MimicTuner", "SearchError", "SearchSpace", "apply_values",
    "count_params", "main", "make_oracle", "markdown_table", "parse_args", "search", "space_from_args",
    "trial_rows", "write_results",
]
