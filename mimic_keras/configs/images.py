"""Your own images and teacher: a class-per-folder tree (or tar) and a trained Keras or SavedModel model.

    python -m mimic_keras.fit all --preset images data.source=DIR_OR_TAR teacher.path=MODEL num_classes=N

Without `teacher.path`, a teacher of architecture `teacher.kind` (a `keras.applications` name,
weights=None: nothing is downloaded, or our `convnet`) is trained on the labels.
"""

from dataclasses import dataclass
from typing import Optional

from mimic_keras.config import ControlTrainConfig, ExperimentConfig, MimicConfig, TeacherConfig, TrainConfig
from mimic_keras.config_schema import ConfigError, opt
from mimic_keras.configs import image_transfer
from mimic_keras.configs.image_transfer import ImageTransferData

TASK = "mimic_keras.tasks.images:ImagesTask"
TEACHER_PATHS = True  # `teacher.path` names trained teachers
# `keras.applications` architectures a teacher can be trained from (weights=None), and our convnet.
TEACHER_KINDS = (
    "convnet", "MobileNetV3Small", "MobileNetV3Large", "MobileNetV2", "ResNet50", "ResNet50V2",
    "EfficientNetB0", "DenseNet121", "VGG16",
)


@dataclass
class ImagesData(ImageTransferData):
    """A folder or tar of `train/<class>/*` (and optionally `test/<class>/*`) images of any size."""

    dataset: str = opt("images", "the dataset: picks the task, its data fields and presets", stages=("prepare",))
    source: str = opt("", "a train/<class>/..., test/<class>/... tree of images: a folder or a tar",
                      stages=("prepare",))
    image_size: Optional[int] = opt(None, "images are resized to this square size (none: the teacher's input "
                                    "size, else the most common size)", min=1, stages=("prepare",))
    channels: Optional[int] = opt(None, "1 (grey) or 3 (RGB); none: the teacher's, else 1 if every image is grey",
                                  choices=(1, 3), stages=("prepare",))
    val_fraction: float = opt(0.1, "training images held out for validation (stratified)", min=0.0, max=0.5,
                              stages=("prepare",))
    test_fraction: float = opt(0.2, "images carved (stratified) as the test split when there is no test/",
                               above=0.0, max=0.5, stages=("prepare",))


DATA_CONFIG = ImagesData


def check(cfg):
    """The images task's own rules (run with the field checks, before any stage)."""
    image_transfer.check(cfg)
    paths = cfg.teacher.path
    if paths and len(paths) != cfg.teacher.num_teachers:
        raise ConfigError(f"teacher.path names {len(paths)} model(s); set teacher.num_teachers={len(paths)}")


def _images():
    # A CPU-sized default: a small mimic; the teacher (when trained here) a MobileNetV3Small.
    return ExperimentConfig(
        name="images",
        num_classes=10,
        data=ImagesData(),
        teacher=TeacherConfig(kind="MobileNetV3Small", dropout=0.2),
        teacher_train=TrainConfig(epochs=10, batch_size=64, learning_rate=1e-3),
        mimic=MimicConfig(conv_filters=32, conv_kernel=5, pool_size=2, bottleneck=64, hidden=1024),
        mimic_train=TrainConfig(epochs=10, batch_size=128, learning_rate=1e-3, augment=False),
        control_train=ControlTrainConfig(epochs=10, batch_size=128, learning_rate=1e-3, augment=False),
    )


PRESETS = {"images": _images}
