"""Experiment configs as dataclasses, the named presets, and `key=value` overrides.

One tree describes a whole run (data → teacher(s) → transfer set → mimic / control → export):

    cfg = get_preset("cifar10-quick")
    cfg = apply_overrides(cfg, ["mimic.hidden=4000", "mimic_train.epochs=20"])

Batch sizes are global (per replica × replicas).
"""

import ast
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Optional, get_args


@dataclass
class DataConfig:
    """Where the data comes from and how the transfer set is built."""

    dataset: str = "cifar10"
    source: str = "tfds"  # a path or "tfds"; see pipelines/cifar10_to_tfrecord.py
    # Extra unlabelled data for the transfer set: images (CIFAR-10), or another TIMIT-layout
    # corpus whose TRAIN speech is written in four parts by speaker (TIMIT).
    unlabelled: Optional[str] = None
    limit: Optional[int] = None  # first N images per split, for smoke runs
    val_size: int = 5000
    views: int = 0  # augmented views per training image added to the transfer set
    mixup: int = 0  # mixup images per training image added to the transfer set (label -1)
    mixup_alpha: float = 1.0  # mixup weight λ ~ Beta(α, α); 1 is uniform
    # Train the mimic on the originals + first N augmented views only; mixup images are
    # selected by `mixup` alone (the first `mixup` of the transfer set's; 0 drops them).
    transfer_views: Optional[int] = None
    label_splits: tuple = ("validation", "test")  # held-out splits also labelled by the teacher
    context: int = 7  # TIMIT: frames on each side of the classified one ((2c+1) x 123 inputs)
    # TIMIT: speed factors, e.g. (0.9, 1.1): prepare also writes every training utterance at
    # each speed, unlabelled, for the teacher to label (a larger transfer set).
    perturb: tuple = ()
    # TIMIT: the speeds whose copies join the mimic's transfer set: None all of `perturb`,
    # () none (the training frames only).
    transfer_perturb: Optional[tuple] = None
    # TIMIT: the share of `unlabelled`'s speech in the transfer set: 0, 0.25, 0.5, 0.75 or 1
    # (None: all of it).
    transfer_unlabelled: Optional[float] = None
    full_test: bool = False  # TIMIT: test on every TEST speaker, not the 24-speaker core set


@dataclass
class TeacherConfig:
    """A deep teacher. `kind` picks the architecture:

    * `convnet` (CIFAR-10): n × [conv k×k → max-pool 2] → dense → logits.
    * `dnn` (TIMIT): `dense_units` ReLU layers → logits.
    * `cnn` (TIMIT): n × [conv along frequency (`kernel_size` bands) → max-pool
      (`freq_pool` bands)] → dense → logits; see `mimic_keras.models.speech`.

    A comma-separated list (`"dnn,cnn"`) gives teacher i the i-th kind, cycling, for an
    ensemble of different architectures.
    """

    kind: str = "convnet"
    conv_filters: tuple = (128, 128, 128)
    kernel_size: int = 3
    dense_units: tuple = (1000,)
    dropout: float = 0.0
    weight_decay: float = 0.0
    num_teachers: int = 1  # >1 trains an ensemble whose logits are averaged
    freq_pool: int = 3  # cnn: bands per max-pool along frequency

    def kind_of(self, index):
        """The architecture of teacher `index`."""
        kinds = [k.strip() for k in self.kind.split(",")]
        return kinds[index % len(kinds)]


@dataclass
class MimicConfig:
    """A shallow net: [conv → pool] → linear bottleneck k → ONE ReLU layer of H units → logits.

    `conv_filters=0` removes the conv feature extractor (the TIMIT MLP mimic);
    `bottleneck=0` removes the linear bottleneck.
    """

    conv_filters: int = 128
    conv_kernel: int = 5
    pool_size: int = 2
    bottleneck: int = 1200
    hidden: int = 30000
    dropout: float = 0.0
    weight_decay: float = 0.0


@dataclass
class TrainConfig:
    """Optimisation of one model."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"  # adam | sgd
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # cosine | constant
    augment: bool = True  # random crop + flip on the fly (images only)
    checkpoint: str = "last"  # last | best (weights with the lowest validation loss)
    seed: int = 0
    label_smoothing: float = 0.0  # for training on labels (teachers, control)
    save_epochs: tuple = ()  # also keep the model after these epochs (epoch_<n>.keras)


@dataclass
class DistillConfig:
    """How the mimic learns from the teacher."""

    loss: str = "l2_logits"  # l2_logits | kd | l2_probs | ce
    alpha: float = 1.0  # weight of the distillation loss; 1 - alpha goes to the label loss
    temperature: float = 1.0


@dataclass
class ExperimentConfig:
    """A whole run, as one config tree."""

    name: str = "experiment"
    num_classes: int = 10
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    teacher_train: TrainConfig = field(default_factory=TrainConfig)
    mimic: MimicConfig = field(default_factory=MimicConfig)
    mimic_train: TrainConfig = field(default_factory=TrainConfig)
    control_train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    strategy: str = "default"  # default | mirrored | multi_worker
    mixed_precision: Optional[str] = None  # e.g. "mixed_bfloat16" (~1.5x faster convs on CPU)
    jit_compile: bool = False  # XLA; measured slower on CPU, worth trying on GPU
    steps_per_execution: int = 1
    export_teacher: bool = False
    export_dir: str = "saved_models"


def _cifar10_quick():
    # Small widths and few epochs: a smoke run of every stage in ~15 min on 2 CPU cores.
    return ExperimentConfig(
        name="cifar10-quick",
        data=DataConfig(limit=10000, val_size=1000, views=1),
        teacher=TeacherConfig(conv_filters=(32, 64, 64), dense_units=(256,), dropout=0.2),
        teacher_train=TrainConfig(epochs=4, batch_size=128, learning_rate=2e-3),
        mimic=MimicConfig(conv_filters=32, conv_kernel=5, pool_size=2, bottleneck=64, hidden=512),
        mimic_train=TrainConfig(epochs=4, batch_size=128, learning_rate=1e-3, augment=False),
        control_train=TrainConfig(epochs=4, batch_size=128, learning_rate=1e-3),
    )


def _cifar10_cpu():
    # The strongest run a 2-core machine finishes in about 2 hours: an augmented teacher trained
    # well past the shallow control, 4 augmented views per image (225k transfer examples), long
    # mimic training. The control is trained like the paper's: on the original images.
    return ExperimentConfig(
        name="cifar10-cpu",
        data=DataConfig(views=4),
        teacher=TeacherConfig(dropout=0.3, weight_decay=5e-4),
        teacher_train=TrainConfig(epochs=20, batch_size=128, learning_rate=1e-3),
        mimic=MimicConfig(conv_filters=64, conv_kernel=5, pool_size=2, bottleneck=256, hidden=2000),
        mimic_train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, augment=False),
        control_train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, augment=False),
        mixed_precision="mixed_bfloat16",
    )


def _cifar10_paper():
    # The paper's sizes (Ba & Caruana 2014, CIFAR-10): a GPU machine's run.
    return ExperimentConfig(
        name="cifar10-paper",
        data=DataConfig(views=10),
        teacher=TeacherConfig(dropout=0.5, weight_decay=5e-4, num_teachers=4),
        teacher_train=TrainConfig(epochs=100, batch_size=128, learning_rate=1e-3),
        mimic=MimicConfig(conv_filters=128, conv_kernel=5, pool_size=2, bottleneck=1200, hidden=30000),
        mimic_train=TrainConfig(epochs=100, batch_size=128, learning_rate=1e-4, augment=False),
        control_train=TrainConfig(epochs=100, batch_size=128, learning_rate=1e-4),
    )


def _timit_quick():
    # The synthetic stand-in corpus (../shared/data/timit-standin, 642 training utterances,
    # 142k frames), narrow nets and few epochs: `all` in about 12 min on 2 shared CPU cores.
    # Teachers: a DNN and a CNN, whose ensemble labels the transfer set (Table 1's rows in
    # miniature). The control overfits within a few epochs, so both shallow nets keep the
    # weights of their lowest dev loss.
    return ExperimentConfig(
        name="timit-quick",
        num_classes=183,
        data=DataConfig(dataset="timit", source="../shared/data/timit-standin", label_splits=("dev", "test")),
        teacher=TeacherConfig(kind="dnn,cnn", conv_filters=(64,), kernel_size=8, freq_pool=3,
                              dense_units=(512, 512, 512), dropout=0.1, num_teachers=2),
        teacher_train=TrainConfig(epochs=5, batch_size=256, learning_rate=1e-3, augment=False),
        mimic=MimicConfig(conv_filters=0, bottleneck=128, hidden=2048),
        mimic_train=TrainConfig(epochs=12, batch_size=256, learning_rate=1e-3, augment=False, checkpoint="best"),
        control_train=TrainConfig(epochs=12, batch_size=256, learning_rate=1e-3, augment=False, checkpoint="best"),
    )


def _timit_paper():
    # The paper's sizes (Ba & Caruana 2014, TIMIT): DNN 3 x 2000 (12M parameters), CNNs of
    # about 13M; the mimic is 1845 -> k=250 linear -> 8000 ReLU -> 183 (SNN-MIMIC-8k; set
    # mimic.hidden=50000 or 400000 for the wider rows). A GPU machine's run.
    return ExperimentConfig(
        name="timit-paper",
        num_classes=183,
        data=DataConfig(dataset="timit", source="TIMIT", label_splits=("dev", "test")),
        teacher=TeacherConfig(kind="dnn,cnn,cnn,cnn", conv_filters=(200,), kernel_size=8, freq_pool=3,
                              dense_units=(2000, 2000, 2000), dropout=0.2, num_teachers=4),
        teacher_train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, augment=False),
        mimic=MimicConfig(conv_filters=0, bottleneck=250, hidden=8000),
        mimic_train=TrainConfig(epochs=40, batch_size=256, learning_rate=5e-4, augment=False, checkpoint="best"),
        control_train=TrainConfig(epochs=40, batch_size=256, learning_rate=5e-4, augment=False, checkpoint="best"),
    )


PRESETS = {
    "cifar10-quick": _cifar10_quick,
    "cifar10-cpu": _cifar10_cpu,
    "cifar10-paper": _cifar10_paper,
    "timit-quick": _timit_quick,
    "timit-paper": _timit_paper,
}


def register_preset(name, factory):
    """Adds a named preset (a zero-argument function returning an `ExperimentConfig`)."""
    PRESETS[name] = factory


def get_preset(name):
    """A fresh config for a preset name, or loaded from a JSON file path."""
    if name.endswith(".json"):
        with open(name) as f:
            return from_dict(json.load(f))
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))} or a .json file")
    return PRESETS[name]()


def to_dict(cfg):
    """The config as plain JSON-able data."""
    return dataclasses.asdict(cfg)


def _build(cls, data):
    kwargs = {}
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in known:
            raise KeyError(f"{cls.__name__} has no field {key!r}")
        sub = _dataclass_type(cls, key)
        if sub is not None and isinstance(value, dict):
            value = _build(sub, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _dataclass_type(cls, name):
    default = getattr(cls(), name)
    return type(default) if dataclasses.is_dataclass(default) else None


def from_dict(data):
    """Inverse of `to_dict`."""
    return _build(ExperimentConfig, data)


def _parse_value(text, current):
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    if isinstance(current, str) or (current is None and not _looks_literal(text)):
        return None if text.lower() == "none" else text
    value = ast.literal_eval(text)
    if isinstance(current, tuple):
        value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    elif isinstance(current, float) and isinstance(value, int):
        value = float(value)
    return value


def _looks_literal(text):
    try:
        ast.literal_eval(text)
        return True
    except (ValueError, SyntaxError):
        return False


def _override_value(text, current, field_type):
    """`_parse_value`, but an `Optional[tuple]` field takes `None` whatever it holds, and a bare value as a 1-tuple."""
    args = get_args(field_type)
    if type(None) not in args or tuple not in args:
        return _parse_value(text, current)
    if text.lower() == "none":
        return None
    value = ast.literal_eval(text)
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def apply_overrides(cfg, overrides):
    """Returns a copy of `cfg` with `section.field=value` (or `field=value`) overrides applied.

    Raises:
        KeyError: for a path that names no field.
        ValueError: for a value that does not parse.
    """
    cfg = from_dict(to_dict(cfg))
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        path, text = item.split("=", 1)
        *parents, leaf = path.strip().split(".")
        target = cfg
        for part in parents:
            if not hasattr(target, part) or not dataclasses.is_dataclass(getattr(target, part)):
                raise KeyError(f"unknown config section {path!r}")
            target = getattr(target, part)
        if not dataclasses.is_dataclass(target) or leaf not in {f.name for f in dataclasses.fields(target)}:
            raise KeyError(f"unknown config field {path!r}")
        try:
            setattr(target, leaf, _override_value(text.strip(), getattr(target, leaf),
                                                  target.__dataclass_fields__[leaf].type))
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"bad value for {path}: {text!r} ({e})") from None
    return cfg
