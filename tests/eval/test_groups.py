"""mimic_keras.eval.groups and group_stats: what each group of a mimic's hidden layer does, on a split streamed once."""

import json

import keras
import numpy as np
import pytest

from mimic_keras import plots
from mimic_keras.config import MimicConfig
from mimic_keras.data import cifar10
from mimic_keras.eval import group_stats, groups
from mimic_keras.eval.group_stats import group_parts, partial_logits
from mimic_keras.eval.image_scoring import load_arrays
from mimic_keras.layout import Layout
from mimic_keras.models.mimics import build_mimic

CLASSES = 5
GROUPED = MimicConfig(conv_filters=0, bottleneck=9, hidden=12, groups=3)  # 3 groups of 4 units, 3 bottleneck units each


def _model(config=GROUPED, seed=0):
    keras.utils.set_random_seed(seed)
    return build_mimic(config, num_classes=CLASSES, input_shape=(10,))


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 10)).astype(np.float32), rng.integers(0, CLASSES, size=n)


def _batches(x, y, size=7):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def _set_logits(model, kernel=None, bias=None):
    old_kernel, old_bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([old_kernel if kernel is None else kernel, old_bias if bias is None else bias])


def _varied_bias(model):
    _set_logits(model, bias=np.array([0.3, -0.2, 0.9, 0.1, -0.5], np.float32))  # alone, a dead group predicts class 2


@pytest.mark.parametrize("config, groups", [(GROUPED, None), (MimicConfig(conv_filters=0, bottleneck=8, hidden=12), 4)])
def test_the_groups_partial_logits_and_the_bias_add_up_to_the_models_logits(config, groups):
    model, (x, _) = _model(config), _data()
    features, kernel, bias = group_parts(model, groups)
    parts = partial_logits(features(x), kernel)
    assert parts.shape == (60, groups or 3, CLASSES)
    np.testing.assert_allclose(parts.sum(axis=1) + bias, model(x), rtol=1e-4, atol=1e-5)
    hidden, dense = np.asarray(features(x)), model.get_layer("logits").kernel.numpy()
    units = 12 // (groups or 3)
    np.testing.assert_allclose(parts[:, 1], hidden[:, units : 2 * units] @ dense[units : 2 * units], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="groups=5 must divide the 12 hidden units"):
        group_parts(model, 5)


def _reference(model, x, y, groups):
    """The analysis computed on the whole split at once, group g sliced out by hand."""
    hidden = np.asarray(keras.Model(model.inputs[0], model.get_layer("hidden").output)(x), np.float64)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("logits").get_weights())
    units = hidden.shape[1] // groups
    parts = [hidden[:, g * units : (g + 1) * units] @ kernel[g * units : (g + 1) * units] for g in range(groups)]
    logits = sum(parts) + bias
    centred = [p - p.mean(axis=0) for p in parts]  # each class centred on its mean
    blocks = [hidden[:, g * units : (g + 1) * units] for g in range(groups)]
    return {
        "accuracy": np.mean(logits.argmax(-1) == y),
        "alone": [np.mean((p + bias).argmax(-1) == y) for p in parts],
        "without": [np.mean((logits - p).argmax(-1) == y) for p in parts],
        "dead": [int(np.sum(~(b > 0).any(axis=0))) for b in blocks],
        "active": [np.mean(b > 0) for b in blocks],
        "activation": [np.mean(b) for b in blocks],
        "correlation": np.corrcoef([c.ravel() for c in centred]),
        "shares": [np.sum(c**2) / np.sum(sum(centred) ** 2) for c in centred],
    }


def test_streamed_in_batches_it_gives_what_the_whole_split_gives_at_once():
    model, (x, y) = _model(), _data()
    _varied_bias(model)
    result = group_stats.analyse_groups(model, _batches(x, y, 7))
    ref = _reference(model, x, y, 3)
    assert result["examples"] == 60 and result["groups"] == 3 and result["units"] == 4 and result["partition"] == "layer"
    assert result["accuracy"] == pytest.approx(ref["accuracy"]) and ref["accuracy"] > 0
    assert result["accuracy"] == pytest.approx(np.mean(np.asarray(model(x)).argmax(-1) == y))
    for g, row in enumerate(result["rows"]):
        assert row["alone_accuracy"] == pytest.approx(ref["alone"][g])
        assert row["without_accuracy"] == pytest.approx(ref["without"][g])
        assert row["dead_units"] == ref["dead"][g] and row["dead_fraction"] == ref["dead"][g] / 4
        assert row["active_fraction"] == pytest.approx(ref["active"][g])
        assert row["mean_activation"] == pytest.approx(ref["activation"][g], rel=1e-5)
        for h in range(3):
            assert result["correlations"][g][h] == pytest.approx(ref["correlation"][g, h], abs=1e-6)
    assert result["mean_pairwise_correlation"] == pytest.approx(np.mean(ref["correlation"][np.triu_indices(3, 1)]))
    assert [r["variance_share"] for r in result["rows"]] == pytest.approx(ref["shares"])
    once = group_stats.analyse_groups(model, _batches(x, y, 1000))
    for key in ("accuracy", "bias_accuracy", "mean_pairwise_correlation"):
        assert once[key] == pytest.approx(result[key])
    for a, b in zip(once["rows"], result["rows"]):
        assert [c["class"] for c in a["hurt_classes"]] == [c["class"] for c in b["hurt_classes"]]
        assert [c["drop"] for c in a["hurt_classes"]] == pytest.approx([c["drop"] for c in b["hurt_classes"]])
        assert {k: v for k, v in a.items() if k != "hurt_classes"} == pytest.approx(
            {k: v for k, v in b.items() if k != "hurt_classes"})


def test_a_group_whose_logits_rows_are_zero_scores_the_bias_alone_and_is_not_missed():
    model, (x, y) = _model(), _data()
    _varied_bias(model)
    kernel = model.get_layer("logits").kernel.numpy()
    kernel[4:8] = 0.0  # group 1: hidden units 4..7
    _set_logits(model, kernel=kernel)
    result = group_stats.analyse_groups(model, _batches(x, y))
    zeroed = result["rows"][1]
    assert result["bias_accuracy"] == pytest.approx(np.mean(y == 2)) and 0 < result["bias_accuracy"] < result["accuracy"]
    assert zeroed["alone_accuracy"] == result["bias_accuracy"]
    assert zeroed["without_accuracy"] == result["accuracy"]
    assert all(c["drop"] == 0.0 for c in zeroed["hurt_classes"]) and len(zeroed["hurt_classes"]) == 3
    lines = groups.table({**result, "split": "validation"}).splitlines()
    assert lines[1] == f"validation split: 60 examples, 5 classes; accuracy {result['accuracy']:.2%}, " \
                       f"the bias alone {result['bias_accuracy']:.2%}"
    assert lines[7].startswith(f"| 1 | {result['bias_accuracy']:.2%} |") and lines[7].endswith("| none |")
    hurts = [any(c["drop"] > 0 for c in result["rows"][g]["hurt_classes"]) for g in (0, 2)]
    assert any(hurts) and [lines[6 + g].endswith("| none |") for g in (0, 2)] == [not h for h in hurts]
    assert zeroed["variance_share"] == 0.0 and zeroed["mean_correlation"] is None
    assert result["correlations"][0][1] is None and result["correlations"][0][2] is not None
    others = [result["rows"][g] for g in (0, 2)]
    assert all(r["variance_share"] > 0 for r in others)
    assert all(r["alone_accuracy"] != result["bias_accuracy"] or r["without_accuracy"] != result["accuracy"]
               for r in others)  # the live groups do matter
    assert zeroed["dead_fraction"] < 1.0  # its units still fire: only their way to the logits is cut


def test_a_group_cut_off_from_the_bottleneck_is_dead():
    model, (x, y) = _model(), _data()
    bottleneck = model.get_layer("bottleneck").kernel.numpy()
    bottleneck[:, 6:9] = 0.0  # group 2's three bottleneck units: its units see a constant 0 (+ zero bias)
    model.get_layer("bottleneck").set_weights([bottleneck])
    rows = group_stats.analyse_groups(model, _batches(x, y))["rows"]
    assert rows[2]["dead_units"] == 4 and rows[2]["dead_fraction"] == 1.0
    assert rows[2]["active_fraction"] == 0.0 and rows[2]["mean_activation"] == 0.0
    assert rows[0]["dead_fraction"] < 1.0 and rows[1]["dead_fraction"] < 1.0


def test_two_identical_groups_correlate_fully():
    model, (x, y) = _model(), _data()
    bottleneck = model.get_layer("bottleneck").kernel.numpy()
    bottleneck[:, 3:6] = bottleneck[:, 0:3]
    model.get_layer("bottleneck").set_weights([bottleneck])
    kernel, hidden_bias = model.get_layer("hidden").get_weights()
    kernel[1], hidden_bias[4:8] = kernel[0], np.linspace(0.1, 0.4, 4)
    hidden_bias[0:4] = hidden_bias[4:8]
    model.get_layer("hidden").set_weights([kernel, hidden_bias])
    logits_kernel = model.get_layer("logits").kernel.numpy()
    logits_kernel[4:8] = logits_kernel[0:4]
    _set_logits(model, kernel=logits_kernel)
    result = group_stats.analyse_groups(model, _batches(x, y))
    assert result["correlations"][0][1] == pytest.approx(1.0)
    assert abs(result["correlations"][0][2]) < 0.99
    assert result["rows"][0]["alone_accuracy"] == result["rows"][1]["alone_accuracy"]


def test_hurt_classes_fold_classes_that_share_a_name():
    counts = np.array([10, 10, 20, 5, 0])
    full = np.array([10, 8, 20, 5, 0])
    without = np.array([2, 8, 15, 5, 0])
    by_index = group_stats.hurt_classes(counts, full, without, top=3)
    assert [c["class"] for c in by_index] == ["0", "2", "1"]  # drops 0.8, 0.25, then 0 (10 examples before 5)
    assert by_index[0] == {"class": "0", "examples": 10, "accuracy": 1.0, "without_accuracy": 0.2, "drop": pytest.approx(0.8)}
    folded = group_stats.hurt_classes(counts, full, without, ["aa", "aa", "s", "s", "t"], top=5)
    assert [(c["class"], c["examples"]) for c in folded] == [("aa", 20), ("s", 25)]  # "t" has no examples
    assert folded[0]["drop"] == pytest.approx((18 - 10) / 20) and folded[1]["drop"] == pytest.approx(5 / 25)
    with pytest.raises(ValueError, match="4 class names for 5 classes"):
        group_stats.hurt_classes(counts, full, without, ["a", "b", "c", "d"])


def test_partition_says_what_the_blocks_are_and_one_block_is_refused():
    dense = _model(MimicConfig(conv_filters=0, bottleneck=8, hidden=12))
    x, y = _data()
    kind, text = group_stats.partition_of(dense, 4)
    assert kind == "arbitrary" and "arbitrary partition" in text
    assert group_stats.analyse_groups(dense, _batches(x, y), groups=4)["partition"] == "arbitrary"
    four = _model(MimicConfig(conv_filters=0, bottleneck=8, hidden=16, groups=4))
    assert [group_stats.partition_of(four, g)[0] for g in (4, 2, 8)] == ["layer", "merged", "arbitrary"]
    with pytest.raises(ValueError, match="pass groups=G"):
        group_stats.analyse_groups(dense, _batches(x, y))
    with pytest.raises(ValueError, match="labels outside 0..4"):
        group_stats.analyse_groups(_model(), [(x[:4], np.array([0, 1, 5, 2]))])
    with pytest.raises(ValueError, match="no examples"):
        group_stats.analyse_groups(_model(), [])


class _FakeTask:
    """Scores a logits function by agreement with the full model on fixed inputs."""

    def __init__(self, model, x):
        self.x, self.labels = x, np.asarray(model(x)).argmax(-1)

    def deployed_scores(self, layout, predict, role="mimic"):
        return {"test_accuracy": float(np.mean(predict(self.x).argmax(-1) == self.labels))}


def test_scores_of_a_group_that_feeds_nothing_to_the_logits_are_the_bias_alone_and_the_full_model_without():
    model, (x, _) = _model(), _data()
    _varied_bias(model)
    kernel = model.get_layer("logits").kernel.numpy()
    kernel[4:8] = 0.0  # group 1's four units
    _set_logits(model, kernel=kernel)
    full, rows = groups.group_scores(_FakeTask(model, x), None, model)
    assert full == {"test_accuracy": 1.0} and len(rows) == 3
    assert rows[1] == {"alone_test_accuracy": pytest.approx(np.mean(np.asarray(model(x)).argmax(-1) == 2)),
                       "without_test_accuracy": 1.0}  # alone, the bias predicts class 2
    assert rows[1]["alone_test_accuracy"] < 1.0
    assert rows[0]["without_test_accuracy"] < 1.0 or rows[2]["without_test_accuracy"] < 1.0


def test_cli_analyses_a_runs_validation_split_and_writes_json(tiny_run, tmp_path, capsys):
    workdir, _, _ = tiny_run
    path, out = str(tmp_path / "g2.keras"), str(tmp_path / "groups.json")
    model = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16, groups=2))
    model.save(path)
    assert groups.main([workdir, "--model", path, "--json", out, "--batch-size", "16"]) == 0
    printed = capsys.readouterr().out
    assert "its own 2 blocks of 8 units" in printed and "| 1 |" in printed
    with open(out) as f:
        data = json.load(f)
    assert data["kind"] == "groups" and data["model"] == path and data["split"] == "validation"
    assert data["command"].startswith("python -m mimic_keras.eval.groups ")
    assert [r["group"] for r in data["rows"]] == [0, 1]
    val = load_arrays(Layout(workdir).data, "validation")
    assert data["examples"] == len(val["label"]) == 40
    assert data["accuracy"] == pytest.approx(np.mean(np.asarray(model(val["image"])).argmax(-1) == val["label"]))
    assert all(c["class"] in cifar10.CLASSES for r in data["rows"] for c in r["hurt_classes"])
    assert plots.kind_of(data) == "groups" and plots.write_plots(out) == []  # no figures for it
    assert groups.main([workdir, "--model", path, "--split", "test", "--json", out]) == 0
    with open(out) as f:
        assert json.load(f)["examples"] == len(load_arrays(Layout(workdir).data, "test")["label"])
    capsys.readouterr()
    assert groups.main([workdir, "--model", path, "--split", "train"]) == 2
    assert "the cifar10 task offers validation, test" in capsys.readouterr().err
    assert groups.main([workdir]) == 2  # the run's own mimic has a dense hidden layer
    assert "pass groups=G (--groups G)" in capsys.readouterr().err
    assert groups.main([workdir, "--groups", "4"]) == 0
    assert "a dense layer of 32 units cut into 4 blocks of 8 units: an arbitrary partition" in capsys.readouterr().out


def test_cli_scores_agree_with_the_streamed_test_split(tiny_run, tmp_path, capsys):
    workdir, _, _ = tiny_run
    path, out = str(tmp_path / "g2.keras"), str(tmp_path / "groups.json")
    model = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16, groups=2))
    model.save(path)
    assert groups.main([workdir, "--model", path, "--split", "test", "--scores", "--json", out]) == 0
    printed = capsys.readouterr().out
    assert "| group | alone test_accuracy | without test_accuracy |" in printed
    with open(out) as f:
        data = json.load(f)
    test = load_arrays(Layout(workdir).data, "test")
    assert data["scores"]["test_accuracy"] == pytest.approx(data["accuracy"])
    assert data["accuracy"] == pytest.approx(np.mean(np.asarray(model(test["image"])).argmax(-1) == test["label"]))
    for row in data["rows"]:  # the task's scoring of the test split and the streamed analysis of it agree
        assert row["alone_test_accuracy"] == pytest.approx(row["alone_accuracy"])
        assert row["without_test_accuracy"] == pytest.approx(row["without_accuracy"])
    assert len({(r["alone_accuracy"], r["without_accuracy"]) for r in data["rows"]}) == 2  # the groups differ
    assert groups.main([workdir, "--split", "test", "--groups", "4", "--scores", "--json", out]) == 0
    with open(out) as f:
        cut = json.load(f)  # the run's own mimic, dense: scored in the same 4 blocks as analysed
    assert [r["group"] for r in cut["rows"]] == [0, 1, 2, 3] and cut["partition"] == "arbitrary"
    assert [r["alone_test_accuracy"] for r in cut["rows"]] == pytest.approx([r["alone_accuracy"] for r in cut["rows"]])
    assert [r["without_test_accuracy"] for r in cut["rows"]] == pytest.approx(
        [r["without_accuracy"] for r in cut["rows"]])
    capsys.readouterr()
    assert groups.main([workdir, "--model", path, "--groups", "3", "--scores"]) == 2
    assert "groups=3 must divide the 16 hidden units" in capsys.readouterr().err
