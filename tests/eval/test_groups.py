import numpy as np
import pytest

from mimic_keras.config import MimicConfig
from mimic_keras.eval import groups
from mimic_keras.models.mimics import build_mimic

CONFIG = MimicConfig(conv_filters=0, bottleneck=9, hidden=12, groups=3)


def _inputs(n=40):
    return np.random.default_rng(0).normal(size=(n, 10)).astype(np.float32)


@pytest.mark.parametrize("config, cut", [(CONFIG, None), (MimicConfig(conv_filters=0, bottleneck=8, hidden=12), 4)])
def test_the_groups_contributions_and_the_bias_add_up_to_the_logits(config, cut):
    model, x = build_mimic(config, num_classes=5, input_shape=(10,)), _inputs()
    contributions, bias = groups.group_logits(model, x, cut)
    assert contributions.shape == (40, cut or 3, 5)
    np.testing.assert_allclose(contributions.sum(axis=1) + bias, model(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="groups=5 must divide the 12 hidden units"):
        groups.group_logits(model, x, 5)


class _FakeTask:
    """Scores a logits function by agreement with the full model on fixed inputs."""

    def __init__(self, model, x):
        self.x, self.labels = x, np.asarray(model(x)).argmax(-1)

    def deployed_scores(self, layout, predict, role="mimic"):
        return {"test_accuracy": float(np.mean(predict(self.x).argmax(-1) == self.labels))}

    def representative(self, layout, count=300):
        return self.x[:count]


def test_a_group_that_feeds_nothing_to_the_logits_has_no_share_and_is_not_missed():
    model, x = build_mimic(CONFIG, num_classes=5, input_shape=(10,)), _inputs()
    kernel, bias = model.get_layer("logits").get_weights()
    kernel[4:8] = 0.0  # group 1's four units
    model.get_layer("logits").set_weights([kernel, np.random.default_rng(1).normal(size=5).astype(np.float32)])
    rows = groups.group_report(_FakeTask(model, x), None, model)
    assert [r["group"] for r in rows] == ["all", 0, 1, 2] and rows[0]["test_accuracy"] == 1.0
    assert rows[2]["variance_share"] == 0.0 and rows[2]["without_test_accuracy"] == 1.0
    assert len(set(np.asarray(model.get_layer("logits").bias))) > 1  # so "alone" predicts one class
    assert rows[2]["alone_test_accuracy"] < 1.0 and rows[1]["variance_share"] > 0
    assert rows[1]["without_test_accuracy"] < 1.0 or rows[3]["without_test_accuracy"] < 1.0


def test_cli_scores_each_group_on_a_runs_test_split(tiny_run, tmp_path, capsys):
    workdir, _, _ = tiny_run
    path = str(tmp_path / "g2.keras")
    build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16, groups=2)).save(path)
    assert groups.main([path, "--workdir", workdir]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["group=all", "group=0", "group=1"]
    assert "alone_test_accuracy=" in lines[1] and "variance_share=" in lines[2]
    assert groups.main([path, "--workdir", workdir, "--groups", "3"]) == 2
    assert "groups=3 must divide the 16 hidden units" in capsys.readouterr().err
