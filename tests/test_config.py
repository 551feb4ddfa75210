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
    [("mimic.width=3", config.ConfigError), ("nosuch.hidden=3", config.ConfigError), ("mimic.hidden", ValueError),
     ("mimic.hidden=abc", ValueError), ("mimic_train.augment=maybe", ValueError)],
)
def test_bad_overrides(override, error):
    with pytest.raises(error):
        config.apply_overrides(config.get_preset("cifar10-quick"), [override])


def test_unknown_preset():
    with pytest.raises(config.ConfigError, match="unknown preset"):
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


@pytest.mark.parametrize(
    "override, words",
    [
        ("distill.loss=nonsense", ["distill.loss", "nonsense", "l2_logits", "kd"]),
        ("mimic_train.optimizer=adamw", ["mimic_train.optimizer", "adamw", "adam, sgd"]),
        ("mimic.hidden=1.5", ["mimic.hidden", "1.5", "integer"]),
        ("teacher_train.schedule=linear", ["teacher_train.schedule", "cosine, constant"]),
        ("mimic_train.checkpoint=worst", ["mimic_train.checkpoint", "last, best"]),
        ("strategy=horovod", ["strategy", "default, mirrored, multi_worker"]),
        ("teacher.kind=resnet", ["teacher.kind", "convnet"]),
        ("mimic.hidden=0", ["mimic.hidden", "at least 1"]),
        ("mimic_train.learning_rate=0", ["learning_rate", "above 0"]),
        ("data.views=-1", ["data.views", "at least 0"]),
        ("data.context=3", ["data.context", "does not apply", "cifar10"]),
        ("mimic_train.augment=true", ["mimic_train.augment", "data.views"]),
        ("name=../outside", ["name", "letters"]),
        ("mimic.groups=3", ["mimic.groups=3", "divide", "mimic.bottleneck=64"]),
        ("mimic.groups=0", ["mimic.groups", "at least 1"]),
        ("control_train.data=teacher", ["control_train.data", "labels, transfer"]),
        ("control_train.data=transfer", ["control_train.data=transfer", "control_train.augment=false"]),
        ("control_train.dropout=1.5", ["control_train.dropout", "at most 0.99"]),
        ("control_train.weight_decay=-1", ["control_train.weight_decay", "at least 0"]),
    ],
)
def test_bad_values_are_one_line_naming_field_value_and_choices(override, words):
    with pytest.raises(config.ConfigError) as e:
        config.apply_overrides(config.get_preset("cifar10-quick"), [override])
    message = str(e.value)
    assert "\n" not in message and "<" not in message  # one line, no Python internals
    for word in words:
        assert word in message


def test_timit_refuses_image_fields_and_conv_mimics():
    with pytest.raises(config.ConfigError, match="data.views does not apply to dataset 'timit'"):
        config.apply_overrides(config.get_preset("timit-quick"), ["data.views=2"])
    with pytest.raises(config.ConfigError, match="mimic.conv_filters"):
        config.apply_overrides(config.get_preset("timit-quick"), ["mimic.conv_filters=8"])
    with pytest.raises(config.ConfigError, match="teacher.kind='convnet'"):
        config.apply_overrides(config.get_preset("timit-quick"), ["teacher.kind=convnet"])


def test_data_dataset_override_gives_that_datasets_fields():
    cfg = config.apply_overrides(config.get_preset("cifar10-quick"),
                                 ["data.dataset=timit", "data.context=5", "mimic.conv_filters=0",
                                  "teacher.kind=dnn", "teacher_train.augment=false", "control_train.augment=false"])
    assert cfg.data.dataset == "timit" and cfg.data.context == 5 and cfg.data.label_splits == ("dev", "test")
    assert cfg.data.limit == 10000  # the common fields carry over
    with pytest.raises(config.ConfigError, match="data.dataset='mnist' is not one of: cifar10, timit"):
        config.apply_overrides(config.get_preset("cifar10-quick"), ["data.dataset=mnist"])


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: d.update(mimic=5), ["mimic must be a JSON object"]),
        (lambda d: d["mimic"].update(hidden="wide"), ["mimic.hidden", "integer"]),
        (lambda d: d["mimic"].update(hidden=True), ["mimic.hidden", "integer"]),
        (lambda d: d["teacher_train"].update(epochs=2.5), ["teacher_train.epochs", "integer"]),
        (lambda d: d["data"].update(views=4, dataset="timit"), ["does not apply to dataset", "timit"]),
        (lambda d: d.update(colour="red"), ["colour"]),
    ],
)
def test_json_configs_are_checked_like_overrides(tmp_path, edit, words):
    data = config.to_dict(config.get_preset("cifar10-quick"))
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(config.ConfigError) as e:
        config.get_preset(str(path))
    for word in words:
        assert word in str(e.value)
    assert str(path) in str(e.value)


def test_old_flat_data_sections_still_load():
    """A config.json written when every dataset's data fields sat in one section."""
    old = config.to_dict(config.get_preset("timit-quick"))
    old["data"].update(val_size=5000, views=0, mixup=0, mixup_alpha=1.0, transfer_views=None)
    assert config.from_dict(old) == config.get_preset("timit-quick")
    old = config.to_dict(config.get_preset("cifar10-quick"))
    old["data"].update(context=7, perturb=[], transfer_perturb=None, transfer_unlabelled=None, full_test=False)
    assert config.from_dict(old) == config.get_preset("cifar10-quick")


def test_distillation_loss_names_match_the_losses_module():
    from mimic_keras import losses

    assert set(config.LOSSES) == set(losses.LOSS_NAMES)


def test_every_field_has_help():
    from mimic_keras.config_schema import describe, walk

    for name in config.preset_names():
        cfg = config.get_preset(name)
        for path, _, f in walk(cfg):
            assert f.metadata.get("help"), path
        assert "mimic.hidden = " in describe(cfg)


def test_old_top_level_export_keys_load_and_still_work_as_overrides():
    """config.json files and overrides written before the `export` section."""
    old = config.to_dict(config.get_preset("cifar10-quick"))
    del old["export"]
    old.update(export_teacher=True, export_dir="elsewhere")
    cfg = config.from_dict(old)
    assert (cfg.export.teacher, cfg.export.dir, cfg.export.name, cfg.export.tflite) == (True, "elsewhere", None, ())
    cfg = config.apply_overrides(cfg, ["export_dir=there", "export.tflite=float32,int8", "export.name=cats"])
    assert (cfg.export.dir, cfg.export.tflite, cfg.export.name) == ("there", ("float32", "int8"), "cats")
    with pytest.raises(config.ConfigError, match="export.tflite"):
        config.apply_overrides(cfg, ["export.tflite=float16"])


def test_export_fields_are_read_by_the_export_stage_only():
    from mimic_keras import stages

    cfg = config.get_preset("cifar10-quick")
    assert "export.tflite" in stages.reads("export", cfg)
    assert not any(k.startswith("export.") for s in stages.PIPELINE if s != "export" for k in stages.reads(s, cfg))


def test_groups_must_divide_the_hidden_layer_and_need_a_bottleneck():
    quick = config.get_preset("cifar10-quick")  # k=64, H=512
    assert config.apply_overrides(quick, ["mimic.groups=4"]).mimic.groups == 4
    with pytest.raises(config.ConfigError, match=r"^mimic.groups=8 must divide mimic.hidden=100$"):
        config.apply_overrides(quick, ["mimic.groups=8", "mimic.hidden=100"])
    with pytest.raises(config.ConfigError, match="mimic.groups=2 splits the bottleneck"):
        config.apply_overrides(quick, ["mimic.groups=2", "mimic.bottleneck=0"])


def test_the_control_has_its_own_regularisation_and_data():
    from mimic_keras import stages

    cfg = config.apply_overrides(config.get_preset("cifar10-quick"),
                                 ["mimic.dropout=0.1", "mimic.weight_decay=1e-4", "control_train.dropout=0.5"])
    built = cfg.control_train.architecture(cfg.mimic)
    assert (built.dropout, built.weight_decay, built.hidden) == (0.5, 1e-4, cfg.mimic.hidden)
    assert cfg.mimic.dropout == 0.1  # the mimic keeps its own
    for name in ("control_train.dropout", "control_train.weight_decay", "control_train.data"):
        assert [s for s in stages.PIPELINE if name in stages.reads(s, cfg)] == ["control"]
    assert stages.STAGES["control"].inputs(cfg) == ("prepare",)
    transfer = config.apply_overrides(cfg, ["control_train.data=transfer", "control_train.augment=false"])
    assert stages.STAGES["control"].inputs(transfer) == ("prepare", "label")
    assert [s for s in stages.PIPELINE if "mimic.groups" in stages.reads(s, cfg)] == ["mimic", "control"]


def test_a_preset_giving_the_control_a_plain_train_section_still_loads():
    cfg = config.get_preset("cifar10-quick")
    cfg.control_train = config.TrainConfig(epochs=3)  # as presets written before ControlTrainConfig
    checked = config.check(cfg)
    assert isinstance(checked.control_train, config.ControlTrainConfig)
    assert checked.control_train.epochs == 3 and checked.control_train.data == "labels"


def test_data_runner_is_read_by_no_stage_and_reaches_the_jobs(tmp_path):
    from mimic_keras import stages
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    cfg = config.get_preset("cifar10-quick")
    beam = config.apply_overrides(cfg, ["data.runner=beam",
                                        "data.beam_options='--direct_num_workers=2 --direct_running_mode=multi_processing'"])
    for stage in stages.PIPELINE:  # the Beam jobs write what the in-process ones write: nothing is redone
        assert stages.reads(stage, beam) == stages.reads(stage, cfg)
    options = get_task(beam).prepare_options(Layout(str(tmp_path)))
    assert options.runner == "beam"
    assert options.beam_args == ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert get_task(cfg).prepare_options(Layout(str(tmp_path))).runner == "local"


@pytest.mark.parametrize("overrides, message", [
    (["data.beam_options=--direct_num_workers=2"], "data.runner=local"),
    (["data.runner=beam", "data.mixup=2"], "data.mixup with data.runner=beam"),
    (["data.runner=beam", "data.beam_options=--flink_master='host"], "data.beam_options="),
    (["data.runner=spark"], "data.runner='spark' is not one of: local, beam"),
])
def test_data_runner_mistakes_are_refused_before_any_stage(overrides, message):
    with pytest.raises(config.ConfigError, match=message):
        config.apply_overrides(config.get_preset("cifar10-quick"), overrides)


@pytest.mark.parametrize("section", ["teacher_train", "mimic_train", "control_train"])
def test_patience_needs_a_checkpoint_rule_that_watches_something(section):
    quick = config.get_preset("cifar10-quick")
    for rule in ("best", "best_accuracy"):
        cfg = config.apply_overrides(quick, [f"{section}.patience=5", f"{section}.checkpoint={rule}"])
        assert getattr(cfg, section).patience == 5
    with pytest.raises(config.ConfigError, match=rf"^{section}.patience=5 watches the value that {section}.checkpoint"):
        config.apply_overrides(quick, [f"{section}.patience=5", f"{section}.checkpoint=last"])
    with pytest.raises(config.ConfigError, match=f"{section}.patience=0: must be at least 1"):
        config.apply_overrides(quick, [f"{section}.patience=0", f"{section}.checkpoint=best"])
    assert getattr(config.apply_overrides(quick, [f"{section}.patience=none"]), section).patience is None
