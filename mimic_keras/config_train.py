"""How each model is optimised: `TrainConfig` (one section per trained model), the control's own
`ControlTrainConfig`, and the mimic's objective `DistillConfig`.

Kept apart from `mimic_keras.config` (which re-exports them) so that module stays about the
config tree and its checks. No TensorFlow here.
"""

import dataclasses
from dataclasses import dataclass
from typing import Optional

from mimic_keras.config_schema import opt

# The distillation losses by name (`mimic_keras.losses` builds them; kept here so that checking
# a config needs no TensorFlow). `ce` trains on the transfer set's labels only.
LOSSES = ("l2_logits", "l2_centered", "kd", "l2_probs", "soft_ce", "ce")
# What the control trains on: the labelled training set, or the labels of the mimic's transfer set.
CONTROL_DATA = ("labels", "transfer")


@dataclass
class TrainConfig:
    """Optimisation of one model."""

    epochs: int = opt(10, "passes over the training (or transfer) set", min=1)
    batch_size: int = opt(128, "global batch size", min=1)
    optimizer: str = opt("adam", "optimizer", choices=("adam", "sgd"))
    learning_rate: float = opt(1e-3, "peak learning rate", above=0.0)
    schedule: str = opt("cosine", "learning-rate schedule", choices=("cosine", "constant"))
    augment: bool = opt(True, "random crop + flip on the fly (images only)")
    checkpoint: str = opt("last", "weights kept: the last epoch's, the best validation loss's (best) or "
                          "validation accuracy's (best_accuracy)", choices=("last", "best", "best_accuracy"))
    patience: Optional[int] = opt(None, "stop once the value `checkpoint` keeps (best: validation loss, "
                                  "best_accuracy: validation accuracy) has not improved for this many epochs "
                                  "(none: train all epochs; refused with checkpoint=last); the learning-rate "
                                  "schedule still spans all epochs", min=1)
    seed: int = opt(0, "random seed", min=0)
    label_smoothing: float = opt(0.0, "label smoothing of the loss on labels (mimic: its label term, weighted "
                                 "1 - distill.alpha, or all of distill.loss=ce)", min=0.0, max=0.99)
    save_epochs: tuple[int, ...] = opt((), "also keep the model after these epochs (epoch_<n>.keras)", min=1)


@dataclass
class ControlTrainConfig(TrainConfig):
    """Training of the control, with its own data and regularisation, so it can be tuned apart from the mimic.

    The control has the mimic's architecture (`mimic.*`); `dropout` and `weight_decay` here
    replace the mimic's for the control alone (none: the mimic's). `data=transfer` trains it on
    the labels of the mimic's transfer set (the same augmented images, and with the mimic's
    epochs and batch size the same number of steps) instead of the labelled training set.
    """

    data: str = opt("labels", "what the control trains on: the labelled training set (labels) or the labels "
                    "of the mimic's transfer set (transfer: its augmented views; unlabelled examples are masked)",
                    choices=CONTROL_DATA)
    dropout: Optional[float] = opt(None, "the control's dropout on the hidden layer (none: mimic.dropout)",
                                   min=0.0, max=0.99)
    weight_decay: Optional[float] = opt(None, "the control's L2 weight decay (none: mimic.weight_decay)", min=0.0)

    def architecture(self, mimic):
        """The `MimicConfig` the control is built with: `mimic` with this section's regularisation."""
        changes = {name: getattr(self, name) for name in ("dropout", "weight_decay") if getattr(self, name) is not None}
        return dataclasses.replace(mimic, **changes)


@dataclass
class DistillConfig:
    """How the mimic learns from the teacher."""

    loss: str = opt("l2_logits", "the mimic's loss (l2_centered: L2 on logits centred per example)", choices=LOSSES)
    alpha: float = opt(1.0, "weight of the distillation loss; 1 - alpha goes to the label loss", min=0.0, max=1.0)
    temperature: float = opt(1.0, "softmax temperature (kd, l2_probs, soft_ce)", above=0.0)
