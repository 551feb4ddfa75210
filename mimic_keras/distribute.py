"""Distribution strategy selection. Build it first; build models inside its scope."""

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def get_strategy(name="default", devices=None):
    """Returns a `tf.distribute.Strategy`.

    Args:
        name: `default` (mirrored over all local GPUs when there are several, else one
            device), `mirrored` (all local GPUs or the given devices; CPU when none), or
            `multi_worker` (`MultiWorkerMirroredStrategy` configured from `TF_CONFIG`).
        devices: optional device names for `mirrored`, e.g. `["/cpu:0", "/cpu:1"]`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def distribute_options(dataset):
    """Shards input by element (DATA): right for any shard count, every worker reads all files.

    FILE sharding would be cheaper but needs at least as many shards as workers; our small
    splits (validation, test) can have a single shard.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
