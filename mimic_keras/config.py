"""Experiment configs as dataclasses, the named presets, and `key=value` overrides.

One tree describes a whole run (data → teacher(s) → transfer set → mimic / control → export):

    cfg = get_preset("cifar10-quick")
    cfg = apply_overrides(cfg, ["mimic.hidden=4000", "mimic_train.epochs=20"])

The `data` section's fields depend on the dataset: `DataConfig` holds what every dataset has,
and each dataset's subclass (`mimic_keras.configs.cifar10.Cifar10Data`, ...) adds its own, so a
setting that does not apply to the run's dataset is refused rather than ignored. Every value
is checked (type, range, allowed names) before anything runs; `python -m mimic_keras.fit config
--preset NAME` prints every field with its help. Batch sizes are global (per replica × replicas).
"""

import dataclasses
import json
import os
import re
import shlex
from dataclasses import dataclass
from typing import Optional

from mimic_keras.config_migration import LEGACY_KEYS, migrate_data, migrate_keys
from mimic_keras.config_schema import ConfigError, check_fields, field_types, opt, parse_value, section
from mimic_keras.config_train import (  # noqa: F401  (re-exported: the config tree's sections)
    CONTROL_DATA, LOSSES, ControlTrainConfig, DistillConfig, TrainConfig,
)

STRATEGIES = ("default", "mirrored", "multi_worker")  # as `mimic_keras.distribute` parses them


@dataclass
class DataConfig:
    """Where the data comes from; each dataset's subclass adds how its transfer set is built."""

    dataset: str = opt("cifar10", "the dataset: picks the task, its data fields and presets", stages=("prepare",))
    source: str = opt("tfds", "where the raw data is: a path, or tfds to download", stages=("prepare",))
    unlabelled: Optional[str] = opt(None, "extra unlabelled data for the transfer set (a path)", stages=("prepare",))
    limit: Optional[int] = opt(None, "first N examples per split, for smoke runs", min=1, stages=("prepare",))
    label_splits: tuple[str, ...] = opt(("validation", "test"), "held-out splits the teacher also labels",
                                        stages=("label",))
    # Where prepare and label run changes nothing they write (the Beam jobs write the same folders),
    # so no stage's fingerprint reads these two.
    runner: str = opt("local", "where prepare and label run: local (this process) or beam (Apache Beam; "
                      "pip install .[beam])", choices=("local", "beam"), stages=())
    beam_options: str = opt("", "Beam pipeline options with data.runner=beam, e.g. "
                            "'--runner=FlinkRunner --flink_master=HOST:8081' (none: the DirectRunner)", stages=())


@dataclass
class TeacherConfig:
    """A deep teacher; `kind` names the architecture (the dataset's config lists its kinds).

    A comma-separated list (`"dnn,cnn"`) gives teacher i the i-th kind, cycling, for an
    ensemble of different architectures.
    """

    kind: str = opt("convnet", "architecture(s), comma-separated for a mixed ensemble")
    conv_filters: tuple[int, ...] = opt((128, 128, 128), "filters of each conv block", min=1)
    kernel_size: int = opt(3, "conv kernel size (TIMIT cnn: frequency bands)", min=1)
    dense_units: tuple[int, ...] = opt((1000,), "units of each dense layer", min=1)
    dropout: float = opt(0.0, "dropout rate", min=0.0, max=0.99)
    weight_decay: float = opt(0.0, "L2 weight decay", min=0.0)
    num_teachers: int = opt(1, "teachers in the ensemble (their logits are averaged)", min=1)
    freq_pool: int = opt(3, "TIMIT cnn: bands per max-pool along frequency", min=1)
    path: tuple[str, ...] = opt((), "trained teacher(s) to distil instead of training one: .keras files or "
                                "SavedModel folders, comma-separated for an ensemble", stages=("prepare", "teacher"))

    def kind_of(self, index):
        """The architecture of teacher `index`."""
        kinds = [k.strip() for k in self.kind.split(",")]
        return kinds[index % len(kinds)]


@dataclass
class MimicConfig:
    """A shallow net: [conv → pool] → linear bottleneck k → ONE ReLU layer of H units → logits.

    `conv_filters=0` removes the conv feature extractor (the TIMIT MLP mimic);
    `bottleneck=0` removes the linear bottleneck. `groups=G` splits the hidden layer into G
    blocks of H/G units, block g fed by slice g (k/G units) of the bottleneck: a block-diagonal
    k×H weight matrix with kH/G weights (`mimic_keras.models.layers.GroupedDense`).
    """

    conv_filters: int = opt(128, "filters of the conv feature extractor (0: none)", min=0)
    conv_kernel: int = opt(5, "conv kernel size", min=1)
    pool_size: int = opt(2, "max-pool size after the conv", min=1)
    bottleneck: int = opt(1200, "k, units of the linear bottleneck (0: none)", min=0)
    hidden: int = opt(30000, "H, units of the one non-linear hidden layer", min=1)
    groups: int = opt(1, "G, independent blocks of the hidden layer, block g fed by the g-th k/G bottleneck "
                      "units (1: one dense layer)", min=1)
    dropout: float = opt(0.0, "dropout rate on the hidden layer", min=0.0, max=0.99)
    weight_decay: float = opt(0.0, "L2 weight decay", min=0.0)


TFLITE_VARIANTS = ("float32", "dynamic", "int8")  # as `mimic_keras.litert` converts them


@dataclass
class ExportConfig:
    """What the export stage writes for TF Serving and LiteRT."""

    teacher: bool = opt(False, "also export the teachers")
    dir: str = opt("saved_models", "where exports go (<dir>/<name>/<version>/)")
    name: Optional[str] = opt(None, "the served model's name (default: the workdir's folder name)")
    tflite: tuple[str, ...] = opt((), "LiteRT variants to write and score: float32, dynamic, int8", choices=TFLITE_VARIANTS)


@dataclass
class ExperimentConfig:
    """A whole run, as one config tree."""

    name: str = opt("experiment", "the run's name: default workdir runs/<name>, export names")
    num_classes: int = opt(10, "classes (TIMIT: 183 HMM states)", min=2)
    data: DataConfig = section(DataConfig, "the data and the transfer set")
    teacher: TeacherConfig = section(TeacherConfig, "the deep teacher(s)")
    teacher_train: TrainConfig = section(TrainConfig, "training of the teacher(s)")
    mimic: MimicConfig = section(MimicConfig, "the shallow net (mimic and control)")
    mimic_train: TrainConfig = section(TrainConfig, "training of the mimic")
    control_train: ControlTrainConfig = section(ControlTrainConfig, "training of the control (its own data, regularisation)")
    distill: DistillConfig = section(DistillConfig, "the mimic's objective")
    strategy: str = opt("default", "distribution strategy: default | mirrored[:DEV,DEV...] | multi_worker",
                        stages=())
    mixed_precision: Optional[str] = opt(None, "Keras dtype policy; auto_bfloat16: mixed_bfloat16 where "
                                         "bfloat16 is native (GPU, AVX512-BF16, AMX), else float32",
                                         choices=("mixed_bfloat16", "mixed_float16", "float32", "auto_bfloat16"),
                                         stages=("teacher", "mimic", "control"))
    jit_compile: bool = opt(False, "XLA (measured slower on CPU)", stages=())
    steps_per_execution: int = opt(1, "training steps per call into the graph", min=1, stages=())
    deterministic: bool = opt(False, "op determinism: identical numbers on rerun (slower)", stages=())
    export: ExportConfig = section(ExportConfig, "SavedModel and LiteRT exports")


def _dataset_module(name):
    from mimic_keras import configs

    return configs.dataset_module(name)


def preset_names():
    """Every preset's name, registered ones included."""
    from mimic_keras import configs

    return sorted(configs.presets())


def register_preset(name, factory):
    """Adds a named preset (a zero-argument function returning an `ExperimentConfig`)."""
    from mimic_keras import configs

    configs.EXTRA_PRESETS[name] = factory


def get_preset(name):
    """A fresh, checked config for a preset name, or loaded from a JSON file path."""
    from mimic_keras import configs

    if name.endswith(".json") or os.path.sep in name:
        if not os.path.isfile(name):
            raise ConfigError(f"--preset {name}: no such config file")
        try:
            with open(name) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"--preset {name}: not a JSON config ({e})") from None
        return from_dict(data, origin=name)
    presets = configs.presets()
    if name not in presets:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(presets))} or a .json file")
    return check(presets[name]())


def to_dict(cfg):
    """The config as plain JSON-able data."""
    return dataclasses.asdict(cfg)


def _build(cls, data, prefix):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'the config'} must be a JSON object of fields, got {data!r}")
    hints = field_types(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in hints:
            raise ConfigError(f"unknown config field {prefix}{key!r}" if prefix else f"unknown config field {key!r}")
        if dataclasses.is_dataclass(hints[key]):
            cls_for = _data_class(value) if key == "data" else hints[key]
            value = _build(cls_for, migrate_data(value, cls_for) if key == "data" else value, f"{prefix}{key}.")
        kwargs[key] = value
    return cls(**kwargs)


def _data_class(data):
    dataset = data.get("dataset", "cifar10") if isinstance(data, dict) else "cifar10"
    return _dataset_module(dataset).DATA_CONFIG


def from_dict(data, origin="the config"):
    """Inverse of `to_dict`, checked; configs with the old top-level `export_*` keys load too.

    Raises:
        ConfigError: unknown fields, wrongly typed sections or values.
    """
    try:
        return check(_build(ExperimentConfig, migrate_keys(data), ""))
    except ConfigError as e:
        raise ConfigError(f"{origin}: {e}" if origin != "the config" else str(e)) from None


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check(cfg):
    """Checks every field (type, range, allowed names) and the dataset's own rules; returns `cfg`.

    Raises:
        ConfigError: one line naming the field, the bad value and what is allowed.
    """
    module = _dataset_module(cfg.data.dataset)  # an unknown dataset fails here, with the known ones
    if type(cfg.control_train) is TrainConfig:  # a preset written before the control had its own section
        cfg.control_train = ControlTrainConfig(**dataclasses.asdict(cfg.control_train))
    if not isinstance(cfg.data, module.DATA_CONFIG):
        raise ConfigError(f"data: fields of {type(cfg.data).__name__} given for dataset {cfg.data.dataset!r}")
    check_fields(cfg)
    if not _NAME.fullmatch(cfg.name) or ".." in cfg.name:
        raise ConfigError(f"name={cfg.name!r}: use letters, digits, '.', '_' and '-' (it names a folder)")
    kinds = getattr(module, "TEACHER_KINDS", None)
    for kind in (k.strip() for k in cfg.teacher.kind.split(",")):
        if kinds and kind not in kinds:
            raise ConfigError(f"teacher.kind={kind!r} is not one of: {', '.join(kinds)} (dataset {cfg.data.dataset})")
    if cfg.teacher.path and not getattr(module, "TEACHER_PATHS", False):
        raise ConfigError(f"teacher.path: dataset {cfg.data.dataset!r} trains its own teachers (use data.dataset=images)")
    if cfg.strategy.partition(":")[0] not in STRATEGIES:
        raise ConfigError(f"strategy={cfg.strategy!r} is not one of: {', '.join(STRATEGIES)} (or mirrored:DEV,DEV)")
    _check_students(cfg)
    _check_training(cfg)
    if cfg.data.beam_options.strip() and cfg.data.runner != "beam":
        raise ConfigError("data.beam_options: Beam pipeline options given with data.runner=local; set data.runner=beam")
    try:
        shlex.split(cfg.data.beam_options)
    except ValueError as e:
        raise ConfigError(f"data.beam_options={cfg.data.beam_options!r}: {e}") from None
    if hasattr(module, "check"):
        module.check(cfg)
    return cfg


def _check_students(cfg):
    groups, mimic, control = cfg.mimic.groups, cfg.mimic, cfg.control_train
    if groups > 1 and not mimic.bottleneck:
        raise ConfigError(f"mimic.groups={groups} splits the bottleneck: set mimic.bottleneck (it is 0)")
    for name in ("bottleneck", "hidden"):
        if groups > 1 and getattr(mimic, name) % groups:
            raise ConfigError(f"mimic.groups={groups} must divide mimic.{name}={getattr(mimic, name)}")
    if control.data == "transfer" and control.augment:
        raise ConfigError("control_train.data=transfer trains on the transfer set's augmented views: "
                          "set control_train.augment=false")


def _check_training(cfg):
    for name in ("teacher_train", "mimic_train", "control_train"):
        train = getattr(cfg, name)
        if train.patience is not None and train.checkpoint == "last":  # checkpoint=last watches nothing
            raise ConfigError(f"{name}.patience={train.patience} watches the value that {name}.checkpoint keeps: "
                              "set it to best (validation loss) or best_accuracy (validation accuracy)")


def _set(cfg, path, text):
    *parents, leaf = path.split(".")
    target = cfg
    for part in parents:
        child = getattr(target, part, None) if dataclasses.is_dataclass(target) else None
        if not dataclasses.is_dataclass(child):
            raise ConfigError(f"unknown config section {path!r}")
        target = child
    hints = field_types(type(target))
    if leaf not in hints or dataclasses.is_dataclass(hints[leaf]):
        if parents == ["data"] and any(leaf in field_types(m.DATA_CONFIG) for m in _all_dataset_modules()):
            raise ConfigError(f"data.{leaf} does not apply to dataset {cfg.data.dataset!r}; its data fields: "
                              f"{', '.join(hints)}")
        raise ConfigError(f"unknown config field {path!r}")
    setattr(target, leaf, parse_value(text, hints[leaf], path))


def _all_dataset_modules():
    from mimic_keras import configs

    return [configs.dataset_module(name) for name in configs.DATASETS]


def apply_overrides(cfg, overrides):
    """Returns a checked copy of `cfg` with `section.field=value` (or `field=value`) overrides applied.

    `data.dataset=NAME` is applied first and gives the data section that dataset's fields.

    Raises:
        ConfigError: a path that names no field, or a value that does not parse or is out of range.
    """
    cfg = from_dict(to_dict(cfg))
    pairs = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        path, text = item.split("=", 1)
        pairs.append((LEGACY_KEYS.get(path.strip(), path.strip()), text.strip()))
    for path, text in pairs:
        if path == "data.dataset":
            common = {name: getattr(cfg.data, name) for name in ("source", "unlabelled", "limit")}
            cfg.data = _dataset_module(text).DATA_CONFIG(**common)
    for path, text in pairs:
        if path != "data.dataset":
            _set(cfg, path, text)
    return check(cfg)
