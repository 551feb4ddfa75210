"""The search space (k, H, conv filters, learning rate, schedule) and what a candidate costs.

`SearchSpace` declares the hyperparameters a trial draws; `apply_values` puts a trial's values
into the run's config and `count_params` sizes the mimic they describe from the formula, so a
candidate is measured against the parameter budget without being built.
"""

import dataclasses
import itertools

from mimic_keras.models.mimics import mimic_param_count


@dataclasses.dataclass
class SearchSpace:
    """What the search varies. Integer fields are choices; `learning_rate` is a log range.

    Args:
        bottleneck: choices of k (0 removes the linear bottleneck).
        hidden: choices of H.
        conv_filters: choices of conv filters; empty keeps the config's (MLP mimics have none).
        learning_rate: (low, high) of a log-uniform range; equal ends fix it.
        schedule: learning-rate schedules to try (`cosine`, `constant`).

    Example:
    ```python
    space = SearchSpace.around(config.get_preset("cifar10-quick"))  # centred on the preset
    space = dataclasses.replace(space, hidden=(512, 1024, 2048))
    ```
    """

    bottleneck: tuple = (0, 64, 128)
    hidden: tuple = (256, 512, 1024)
    conv_filters: tuple = ()
    learning_rate: tuple = (1e-4, 1e-2)
    schedule: tuple = ("cosine", "constant")

    @classmethod
    def around(cls, cfg):
        """A space centred on the config's mimic: k and H halved and doubled, lr ×/÷ 10."""
        mimic, lr = cfg.mimic, cfg.mimic_train.learning_rate
        k, h, f = mimic.bottleneck, mimic.hidden, mimic.conv_filters
        return cls(
            bottleneck=(0, *_sizes(k // 2, k, 2 * k)),
            hidden=_sizes(h // 2, h, 2 * h),
            conv_filters=_sizes(f // 2, f, 2 * f) if f else (),
            learning_rate=(lr / 10, lr * 10),
        )

    def validate(self, cfg):
        """Raises ValueError for a space that cannot be searched for `cfg`'s mimic."""
        if not self.bottleneck or not self.hidden or not self.schedule:
            raise ValueError("the search space needs at least one bottleneck, hidden and schedule value")
        if min(self.bottleneck) < 0 or min(self.hidden) < 1 or (self.conv_filters and min(self.conv_filters) < 1):
            raise ValueError("bottleneck must be >= 0, hidden and conv filters >= 1")
        if self.conv_filters and not cfg.mimic.conv_filters:
            raise ValueError("conv filters cannot be searched for a mimic without a conv layer (conv_filters=0)")
        low, high = self.learning_rate
        if not 0 < low <= high:
            raise ValueError(f"learning-rate range must satisfy 0 < low <= high, got {low}, {high}")
        for name in self.schedule:
            if name not in ("cosine", "constant"):
                raise ValueError(f"unknown schedule {name!r}; choose cosine or constant")

    def architectures(self):
        """Every (bottleneck, hidden, conv_filters) combination, as value dicts."""
        filters = self.conv_filters or (None,)
        for k, h, f in itertools.product(self.bottleneck, self.hidden, filters):
            yield {"bottleneck": k, "hidden": h, **({"conv_filters": f} if f is not None else {})}

    def declare(self, hp, default):
        """Declares the hyperparameters on `hp` and returns this trial's values.

        Args:
            hp: a `keras_tuner.HyperParameters`.
            default: the architecture (see `architectures`) keras-tuner builds before the search.
        """
        values = {
            "bottleneck": hp.Choice("bottleneck", list(self.bottleneck), default=default["bottleneck"]),
            "hidden": hp.Choice("hidden", list(self.hidden), default=default["hidden"]),
        }
        if self.conv_filters:
            values["conv_filters"] = hp.Choice(
                "conv_filters", list(self.conv_filters), default=default["conv_filters"]
            )
        low, high = self.learning_rate
        values["learning_rate"] = (
            hp.Fixed("learning_rate", low) if low == high else hp.Float("learning_rate", low, high, sampling="log")
        )
        values["schedule"] = hp.Choice("schedule", list(self.schedule))
        return values


def _sizes(*values):
    return tuple(sorted({v for v in values if v > 0}))


# Each searched value: the config section it goes to, and its type.
_FIELDS = {"bottleneck": ("mimic", int), "hidden": ("mimic", int), "conv_filters": ("mimic", int),
           "learning_rate": ("mimic_train", float), "schedule": ("mimic_train", str)}


def apply_values(cfg, values):
    """The config with a trial's values (k, H, conv filters, lr, schedule) put in; others kept."""
    changes = {"mimic": {}, "mimic_train": {}}
    for name, (section, cast) in _FIELDS.items():
        if values.get(name) is not None:
            changes[section][name] = cast(values[name])
    return dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s), **c) for s, c in changes.items()})


def count_params(cfg, values, input_shape):
    """Parameters of the mimic a trial's values describe, from the formula (nothing is built)."""
    trial_cfg = apply_values(cfg, values)
    return mimic_param_count(trial_cfg.mimic, trial_cfg.num_classes, input_shape)
