"""CIFAR-10: its data fields, teacher kinds, config rules and presets."""

from dataclasses import dataclass

from mimic_keras.config import ControlTrainConfig, ExperimentConfig, MimicConfig, TeacherConfig, TrainConfig
from mimic_keras.config_schema import opt
from mimic_keras.configs import image_transfer
from mimic_keras.configs.image_transfer import ImageTransferData

TASK = "mimic_keras.tasks.cifar10:Cifar10Task"
TEACHER_KINDS = ("convnet",)


@dataclass
class Cifar10Data(ImageTransferData):
    """CIFAR-10's data: a validation split carved from train, and a transfer set of views and mixup."""

    dataset: str = opt("cifar10", "the dataset: picks the task, its data fields and presets", stages=("prepare",))
    val_size: int = opt(5000, "training images held out for validation", min=1, stages=("prepare",))


DATA_CONFIG = Cifar10Data


def check(cfg):
    """CIFAR-10's own rules (run with the field checks, before any stage)."""
    image_transfer.check(cfg)


def _cifar10_quick():
    # Small widths and few epochs: a smoke run of every stage (about 7 minutes on 2 shared CPU cores).
    return ExperimentConfig(
        name="cifar10-quick",
        data=Cifar10Data(limit=10000, val_size=1000, views=1),
        teacher=TeacherConfig(conv_filters=(32, 64, 64), dense_units=(256,), dropout=0.2),
        teacher_train=TrainConfig(epochs=4, batch_size=128, learning_rate=2e-3),
        mimic=MimicConfig(conv_filters=32, conv_kernel=5, pool_size=2, bottleneck=64, hidden=512),
        mimic_train=TrainConfig(epochs=4, batch_size=128, learning_rate=1e-3, augment=False),
        control_train=ControlTrainConfig(epochs=4, batch_size=128, learning_rate=1e-3),
    )


def _cifar10_cpu():
    # The strongest run a 2-core machine finishes in about 2 hours: an augmented teacher trained
    # well past the shallow control, 4 augmented views per image (225k transfer examples), long
    # mimic training. The control is trained like the paper's: on the original images.
    return ExperimentConfig(
        name="cifar10-cpu",
        data=Cifar10Data(views=4),
        teacher=TeacherConfig(dropout=0.3, weight_decay=5e-4),
        teacher_train=TrainConfig(epochs=20, batch_size=128, learning_rate=1e-3),
        mimic=MimicConfig(conv_filters=64, conv_kernel=5, pool_size=2, bottleneck=256, hidden=2000),
        mimic_train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, augment=False),
        control_train=ControlTrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, augment=False),
        mixed_precision="auto_bfloat16",  # bfloat16 where the hardware has it natively
    )


def _cifar10_paper():
    # The paper's sizes (Ba & Caruana 2014, CIFAR-10): a GPU machine's run.
    return ExperimentConfig(
        name="cifar10-paper",
        data=Cifar10Data(views=10),
        teacher=TeacherConfig(dropout=0.5, weight_decay=5e-4, num_teachers=4),
        teacher_train=TrainConfig(epochs=100, batch_size=128, learning_rate=1e-3),
        mimic=MimicConfig(conv_filters=128, conv_kernel=5, pool_size=2, bottleneck=1200, hidden=30000),
        mimic_train=TrainConfig(epochs=100, batch_size=128, learning_rate=1e-4, augment=False),
        control_train=ControlTrainConfig(epochs=100, batch_size=128, learning_rate=1e-4),
    )


PRESETS = {"cifar10-quick": _cifar10_quick, "cifar10-cpu": _cifar10_cpu, "cifar10-paper": _cifar10_paper}
