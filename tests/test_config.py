import dataclasses
import json

import pytest

from mimic_keras import config


def test_presets_exist_and_round_trip(tmp_path):
    for name in ("cifar10-quick", "cifar10-cpu", "cifar10-paper"):
        cfg = config.get_preset(name)
        assert cfg.name == name
        assert config.from_dict(json.loads(json.dumps(config.to_dict(cfg)))) == cfg
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(config.to_dict(config.get_preset("cifar10-quick"))))
    assert config.get_preset(str(path)) == config.get_preset("cifar10-quick")


def test_paper_preset_sizes():
    cfg = config.get_preset("cifar10-paper")
    assert (cfg.mimic.bottleneck, cfg.mimic.hidden) == (1200, 30000)
    assert cfg.teacher.conv_filters == (128, 128, 128) and cfg.teacher.dense_units == (1000,)


def test_overrides():
    cfg = config.apply_overrides(
        config.get_preset("cifar10-quick"),
        ["mimic.hidden=4000", "teacher.conv_filters=(16, 32)", "mimic_train.learning_rate=1",
         "data.source=/data/cifar.tar", "mixed_precision=mixed_bfloat16", "mimic_train.augment=false",
         "data.limit=None", "name=x"],
    )
    assert cfg.mimic.hidden == 4000 and cfg.teacher.conv_filters == (16, 32)
    assert cfg.mimic_train.learning_rate == 1.0 and isinstance(cfg.mimic_train.learning_rate, float)
    assert cfg.data.source == "/data/cifar.tar" and cfg.mixed_precision == "mixed_bfloat16"
    assert cfg.mimic_train.augment is False and cfg.data.limit is None and cfg.name == "x"
    assert config.get_preset("cifar10-quick").mimic.hidden != 4000  # the preset is untouched


@pytest.mark.parametrize(
    "override, error",
    [("mimic.width=3", KeyError), ("nosuch.hidden=3", KeyError), ("mimic.hidden", ValueError),
     ("mimic.hidden=abc", ValueError), ("mimic_train.augment=maybe", ValueError)],
)
def test_bad_overrides(override, error):
    with pytest.raises(error):
        config.apply_overrides(config.get_preset("cifar10-quick"), [override])


def test_unknown_preset():
    with pytest.raises(KeyError, match="unknown preset"):
        config.get_preset("imagenet")


def test_speed_perturbation_overrides():
    cfg = config.apply_overrides(config.get_preset("timit-quick"), ["data.perturb=(0.9,1.1)"])
    assert cfg.data.perturb == (0.9, 1.1) and cfg.data.transfer_perturb is None
    # An Optional[tuple] takes None, (), a tuple or a bare number, whatever it held before.
    for text, value in (("()", ()), ("(0.9,)", (0.9,)), ("0.9", (0.9,)), ("[0.9, 1.1]", (0.9, 1.1)), ("None", None),
                        ("none", None)):
        for before in (None, (), (1.1,)):
            held = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, transfer_perturb=before))
            assert config.apply_overrides(held, [f"data.transfer_perturb={text}"]).data.transfer_perturb == value
    assert config.apply_overrides(cfg, ["data.limit=None"]).data.limit is None
    assert config.from_dict(json.loads(json.dumps(config.to_dict(cfg)))) == cfg
    with pytest.raises(ValueError, match="data.transfer_perturb"):
        config.apply_overrides(cfg, ["data.transfer_perturb=fast"])
