"""The clusters dataset's config module: what `mimic_keras.configs.DATASETS` points at."""

from dataclasses import dataclass

from mimic_keras.config import DataConfig, ExperimentConfig, MimicConfig, TeacherConfig, TrainConfig
from mimic_keras.config_schema import ConfigError, opt

TASK = "tests.clusters.task:ClustersTask"
TEACHER_KINDS = ("mlp",)


@dataclass
class ClustersData(DataConfig):
    """Feature vectors in an `.npz` (`x_train`, `y_train`, `x_test`, `y_test`, `classes`)."""

    dataset: str = opt("clusters", "the dataset: picks the task, its data fields and presets", stages=("prepare",))
    source: str = opt("", "an .npz of x_train, y_train, x_test, y_test, classes", stages=("prepare",))
    val_fraction: float = opt(0.2, "training vectors held out for validation", above=0.0, max=0.5,
                              stages=("prepare",))


DATA_CONFIG = ClustersData


def check(cfg):
    """The dataset's own rule: its students are MLPs."""
    if cfg.mimic.conv_filters:
        raise ConfigError(f"mimic.conv_filters={cfg.mimic.conv_filters}: cluster vectors have no image to "
                          "convolve; set mimic.conv_filters=0")


def _clusters():
    def fast():
        return TrainConfig(epochs=2, batch_size=32, learning_rate=5e-2, augment=False)

    return ExperimentConfig(
        name="clusters", num_classes=4, data=ClustersData(),
        teacher=TeacherConfig(kind="mlp", dense_units=(32, 32)), teacher_train=TrainConfig(
            epochs=2, batch_size=32, learning_rate=2e-2, augment=False),
        mimic=MimicConfig(conv_filters=0, bottleneck=4, hidden=16), mimic_train=fast(), control_train=fast(),
    )


PRESETS = {"clusters": _clusters}
