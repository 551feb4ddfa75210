import json

import numpy as np
import pytest

from mimic_keras import factorize as fz
from mimic_keras import plots
from mimic_keras.config import MimicConfig
from mimic_keras.models.mimics import build_mimic, mimic_multiply_adds, mimic_param_count
from tests.helpers import toy_images

WIDE = MimicConfig(conv_filters=0, bottleneck=0, hidden=24, dropout=0.1, weight_decay=1e-4)


def _mlp(config=WIDE, features=16):
    model = build_mimic(config, num_classes=5, input_shape=(features,))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _features(n=7, features=16):
    return np.random.default_rng(1).normal(size=(n, features)).astype(np.float32)


def test_a_matrix_of_rank_r_factorises_exactly_at_rank_r():
    model, r = _mlp(), 6
    kernel, bias = model.get_layer("hidden").get_weights()
    rng = np.random.default_rng(2)
    model.get_layer("hidden").set_weights([(rng.normal(size=(16, r)) @ rng.normal(size=(r, 24))).astype(np.float32), bias])
    small = fz.factorize(model, r)
    assert small.get_layer("bottleneck").units == r and fz.relative_error(fz.singular_values(model), r) < 1e-6
    np.testing.assert_allclose(small(_features()), model(_features()), rtol=1e-4, atol=1e-4)


def test_the_error_at_rank_r_is_that_of_the_tail_singular_values():
    model = _mlp()
    kernel = model.get_layer("hidden").get_weights()[0].astype(np.float64)
    values = np.linalg.svd(kernel, compute_uv=False)
    for r in (1, 4, 15):
        small = fz.factorize(model, r)
        product = small.get_layer("bottleneck").get_weights()[0] @ small.get_layer("hidden").get_weights()[0]
        error = np.linalg.norm(kernel - product) / np.linalg.norm(kernel)
        assert error == pytest.approx(np.sqrt(np.sum(values[r:] ** 2) / np.sum(values**2)), rel=1e-4)
        assert fz.relative_error(values, r) == pytest.approx(error, rel=1e-4)
    assert fz.relative_error(values, 1) > fz.relative_error(values, 4) > fz.relative_error(values, 15) > 0


def test_the_factorised_mimic_is_build_mimic_with_that_bottleneck():
    x, _ = toy_images(3)
    conv = build_mimic(MimicConfig(conv_filters=4, conv_kernel=3, bottleneck=0, hidden=32, dropout=0.2))
    small = fz.factorize(conv, 8)
    config, classes, shape = fz.mimic_config_of(small)
    assert (config.bottleneck, config.hidden, config.conv_filters, config.dropout, classes, shape) == (8, 32, 4, 0.2, 10, (32, 32, 3))
    assert small.count_params() == mimic_param_count(config) == 28 * 4 + 1024 * 8 + 8 * 32 + 32 + 33 * 10
    assert fz.cost(small) == (small.count_params(), mimic_multiply_adds(config))
    np.testing.assert_array_equal(small.get_layer("conv").get_weights()[0], conv.get_layer("conv").get_weights()[0])
    assert small(x).shape == (3, 10)


def test_a_mixed_precision_mimic_stays_one():
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        wide = build_mimic(MimicConfig(conv_filters=0, bottleneck=0, hidden=24), 5, (16,))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    small = fz.factorize(wide, 4)
    assert small.get_layer("hidden").dtype_policy.name == "mixed_bfloat16"
    assert small.get_layer("logits").dtype_policy.name == "float32"  # logits stay float32, as build_mimic makes them
    assert keras.mixed_precision.global_policy().name == "float32"  # restored


def test_refuses_a_bottleneck_and_ranks_that_save_nothing():
    with pytest.raises(ValueError, match="already has a bottleneck of 8 units"):
        fz.factorize(build_mimic(MimicConfig(conv_filters=0, bottleneck=8, hidden=24), 5, (16,)), 4)
    for rank in (0, 16, 17):  # min(D, H) = min(16, 24)
        with pytest.raises(ValueError, match="below min\\(D, H\\) = 16"):
            fz.factorize(_mlp(), rank)


def test_cli_writes_each_rank_and_a_table(tmp_path, capsys):
    path = str(tmp_path / "wide.keras")
    _mlp().save(path)
    assert fz.main([path, "--rank", "4", "--rank", "2", "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0].strip() for line in lines] == ["original", "rank 2", "rank 4"]
    with open(tmp_path / "out" / "factorize.json") as f:
        table = json.load(f)
    rows = table["rows"]
    assert table["kind"] == "factorize" and table["command"].endswith(f"{path} --rank 4 --rank 2 --out {tmp_path / 'out'}")
    assert plots.write_plots(str(tmp_path / "out" / "factorize.json")) == []  # a table, no figures
    assert [r["parameters"] for r in rows] == [16 * 24 + 24 + 25 * 5, 16 * 2 + 2 * 24 + 24 + 125, 16 * 4 + 4 * 24 + 24 + 125]
    assert rows[1]["relative_error"] > rows[2]["relative_error"] > 0 == rows[0]["relative_error"]
    assert (tmp_path / "out" / "rank_4.keras").exists()
    assert fz.main([path, "--rank", "99", "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err.startswith("error: rank 99")


def test_cli_scores_each_rank_on_a_runs_test_split(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    path = str(tmp_path / "wide.keras")
    build_mimic(MimicConfig(conv_filters=4, bottleneck=0, hidden=16)).save(path)
    rows = fz.run(path, [4], str(tmp_path / "out"), workdir=workdir)
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and "test_agreement" in r for r in rows)
    assert rows[1]["parameters"] < rows[0]["parameters"] and rows[1]["rank"] == 4


def test_finetuning_trains_each_rank_on_the_runs_transfer_set_and_scores_it(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    path = str(tmp_path / "wide.keras")
    build_mimic(MimicConfig(conv_filters=4, bottleneck=0, hidden=16)).save(path)
    out = tmp_path / "out"
    rows = fz.run(path, [4], str(out), workdir=workdir, finetune_epochs=2)
    assert [(r["rank"], r["finetune_epochs"]) for r in rows] == [(None, 0), (4, 0), (4, 2)]
    with open(out / "factorize.json") as f:  # the learning rate used, a tenth of the run's
        assert json.load(f)["finetune"]["learning_rate"] == pytest.approx(1e-4)
    truncated, tuned = rows[1], rows[2]
    assert tuned["parameters"] == truncated["parameters"] and "test_accuracy" in tuned
    with open(out / "rank_4_finetuned" / "history.json") as f:
        assert len(json.load(f)["loss"]) == 2  # two epochs on the transfer set, as the mimic stage trains
    import keras

    before = keras.saving.load_model(truncated["model"], compile=False)
    after = keras.saving.load_model(tuned["model"], compile=False)
    assert fz.mimic_config_of(after) == fz.mimic_config_of(before)
    assert not np.allclose(after.get_layer("bottleneck").get_weights()[0], before.get_layer("bottleneck").get_weights()[0])
    # Rerun: the finished fine-tune is trained again from the factorised weights, its log not appended to.
    fz.run(path, [4], str(out), workdir=workdir, finetune_epochs=1)
    with open(out / "rank_4_finetuned" / "history.json") as f:
        assert len(json.load(f)["loss"]) == 1


def test_finetuning_needs_a_run():
    with pytest.raises(ValueError, match="--finetune-epochs needs --workdir"):
        fz.run("unused.keras", [4], "unused", finetune_epochs=1)
