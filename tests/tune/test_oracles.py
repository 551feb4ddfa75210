import keras_tuner
import numpy as np
import pytest

from mimic_keras import config, tune

# With 4 conv filters (16x16x4 = 1024 features) this fits k=8 with H=16 or 32 (8,810 and 9,114
# parameters) and k=0 with H=16 (16,874), but not k=0 with H=32 (33,434) nor any H=4096.
BUDGET = 20_000


@pytest.mark.parametrize("name", tune.TUNERS)
def test_oracles_never_propose_a_candidate_over_budget(name, tmp_path):
    cfg = config.apply_overrides(config.get_preset("cifar10-quick"), ["mimic.conv_filters=4"])
    space = tune.SearchSpace(bottleneck=(0, 8), hidden=(16, 32, 4096), conv_filters=(4,))

    def sizer(values):
        return tune.count_params(cfg, values, (32, 32, 3))

    oracle = tune.make_oracle(name, sizer, BUDGET, max_trials=20, max_epochs=9, factor=3, seed=1)
    oracle._set_project_dir(str(tmp_path), "search")
    hp = keras_tuner.HyperParameters()
    space.declare(hp, {"bottleneck": 8, "hidden": 16, "conv_filters": 4})
    oracle.update_space(hp)
    rng = np.random.default_rng(0)
    for _ in range(20):  # past Bayesian optimisation's random start (3 x 5 dimensions)
        trial = oracle.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        oracle.update_trial(trial.trial_id, {"val_loss": float(rng.uniform(0.1, 2.0))})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    params = [sizer(t.hyperparameters.values) for t in oracle.trials.values()]
    assert len(params) >= 5 and max(params) <= BUDGET
    assert oracle.skipped and min(s["params"] for s in oracle.skipped.values()) > BUDGET
