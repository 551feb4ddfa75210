"""The datasets a run can use, one registry line each, and their presets.

A dataset is a module here (its data fields, teacher kinds, config rules and presets, no
TensorFlow) plus a `Task` (`mimic_keras.tasks`) that its module names in `TASK`. Adding one is
new files and one line in `DATASETS`.
"""

import importlib

from mimic_keras.config_schema import ConfigError

DATASETS = {
    "cifar10": "mimic_keras.configs.cifar10",
    "timit": "mimic_keras.configs.timit",
    "images": "mimic_keras.configs.images",
}

# Presets added at run time with `mimic_keras.config.register_preset`.
EXTRA_PRESETS = {}


def dataset_module(name):
    """The config module of dataset `name`.

    Raises:
        ConfigError: an unknown dataset, naming the known ones.
    """
    if name not in DATASETS:
        raise ConfigError(f"data.dataset={name!r} is not one of: {', '.join(DATASETS)}")
    return importlib.import_module(DATASETS[name])


def presets():
    """{name: factory} of every dataset's presets and the registered ones."""
    found = {}
    for name in DATASETS:
        found.update(dataset_module(name).PRESETS)
    return {**found, **EXTRA_PRESETS}
