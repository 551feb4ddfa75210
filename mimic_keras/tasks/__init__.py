"""Each dataset's `Task`, built from the run's config: `get_task(cfg)`.

Which class serves a dataset is named by its config module (`mimic_keras.configs`), so a new
dataset is new files plus one registry line there. Training itself (strategy scope, compile,
crash-safe fit), for any task, is `mimic_keras.tasks.training`.
"""

import importlib

from mimic_keras import configs
from mimic_keras.tasks.base import Task


def task_class(dataset):
    """The `Task` subclass of a dataset name."""
    module_name, class_name = configs.dataset_module(dataset).TASK.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_task(cfg):
    """The `Task` of `cfg.data.dataset`, built from `cfg`."""
    return task_class(cfg.data.dataset)(cfg)


__all__ = ["Task", "get_task", "task_class"]
