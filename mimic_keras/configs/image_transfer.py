"""What image datasets share: a transfer set of the training images, augmented views, mixup and grown images.

`ImageTransferData` is the data section both image datasets extend (`cifar10.py`,
`images.py`); a new option of the image transfer set is declared here, once.
"""

from dataclasses import dataclass
from typing import Optional

from mimic_keras.config import DataConfig
from mimic_keras.config_schema import ConfigError, opt


@dataclass
class ImageTransferData(DataConfig):
    """The transfer set of an image dataset: originals, augmented views, mixup images."""

    views: int = opt(0, "augmented views (crop + flip) per training image in the transfer set", min=0,
                     stages=("label",))
    mixup: int = opt(0, "mixup images per training image in the transfer set (label -1)", min=0,
                     stages=("label", "mimic"))
    mixup_alpha: float = opt(1.0, "mixup weight λ ~ Beta(α, α)", above=0.0, stages=("label",))
    transfer_views: Optional[int] = opt(None, "train the mimic on the originals + first N views (none: all)",
                                        min=0, stages=("mimic",))
    extra_transfer: Optional[str] = opt(None, "a folder of teacher-labelled records the mimic also trains on "
                                        "(python -m mimic_keras.grow --out)", stages=("mimic",))


def check(cfg):
    """The rules of any image transfer set (run with the field checks, before any stage)."""
    if cfg.mimic_train.augment:
        raise ConfigError("mimic_train.augment=true: on-the-fly augmentation would pair images with logits of "
                          "other images; set it false and enlarge the transfer set with data.views")
    if cfg.data.runner == "beam" and cfg.data.mixup:
        raise ConfigError("data.mixup with data.runner=beam: the Beam labelling has no mixup images yet; "
                          "set data.mixup=0 or data.runner=local")
