"""Distribution strategy selection and input sharding. Build the strategy first, models inside its scope.

Strategies, by `ExperimentConfig.strategy` (`strategy=...` on the fit command line):

    default                  mirrored over all local GPUs when there are several, else one device
    mirrored                 all local GPUs (the CPU when there are none)
    mirrored:/gpu:0,/gpu:2   the listed devices only (comma-separated TensorFlow device names)
    multi_worker             `MultiWorkerMirroredStrategy` over the cluster in `TF_CONFIG`

Batch sizes in configs are global: each of the `num_replicas_in_sync` replicas gets
`batch_size / replicas` examples per step, and gradients are averaged over all of them, so a
run's results do not depend on how many devices it used (up to float rounding).

Input sharding across workers (`distribute_options`): our TFRecord folders hold several
shards per training split and one for small splits. With enough shards, each worker reads
whole files of its own (`FILE`): 1/N of the bytes, and disjoint examples even when the
pipeline shuffles without a seed. Otherwise every worker reads everything and keeps every
N-th batch (`DATA`), which is right only when all workers produce the same order (our
pipelines are deterministic for a given seed). See `auto_shard_policy`.
"""

import json
import os

import tensorflow as tf

from mimic_keras import runtime

STRATEGIES = ("default", "mirrored", "multi_worker")

_Policy = tf.data.experimental.AutoShardPolicy

# With at least this many files per worker, an uneven split of files costs at most 1/8 of a
# worker's share; below it, FILE needs the file count to divide evenly.
FILES_PER_WORKER_FOR_UNEVEN = 8


def parse_strategy(spec):
    """Splits a strategy spec into (name, devices).

    Args:
        spec: `default`, `mirrored`, `mirrored:DEV[,DEV...]` or `multi_worker`.

    Returns:
        `(name, devices)`; `devices` is a list of device names, or None.

    Example:
        >>> parse_strategy("mirrored:/cpu:0,/cpu:1")
        ('mirrored', ['/cpu:0', '/cpu:1'])
    """
    name, sep, rest = spec.partition(":")
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {spec!r}; choose from {', '.join(STRATEGIES)} (or mirrored:DEV,DEV)")
    if not sep:
        return name, None
    devices = [d.strip() for d in rest.split(",") if d.strip()]
    if name != "mirrored" or not devices:
        raise ValueError(f"strategy {spec!r}: only mirrored takes a device list, e.g. mirrored:/gpu:0,/gpu:1")
    return name, devices


def get_strategy(name="default", devices=None):
    """Returns a `tf.distribute.Strategy`.

    Args:
        name: a strategy spec (see the module docstring): `default`, `mirrored`,
            `mirrored:/gpu:0,/gpu:1` or `multi_worker`.
        devices: optional device names for `mirrored`, e.g. `["/cpu:0", "/cpu:1"]`
            (overrides a device list in `name`).

    Raises:
        ValueError: for an unknown spec, unknown devices, or `multi_worker` without `TF_CONFIG`.
    """
    name, spec_devices = parse_strategy(name)
    devices = devices or spec_devices
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy multi_worker needs TF_CONFIG (the cluster and this worker's index), e.g. "
                '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'
            )
        return KerasMultiWorkerMirroredStrategy()
    if devices:
        known = {_device_key(d.name) for d in tf.config.list_logical_devices()}
        for device in devices:
            if _device_key(device) not in known:
                names = sorted(d.name for d in tf.config.list_logical_devices())
                raise ValueError(f"strategy mirrored: no device {device!r}; have {', '.join(names)}")
    if name == "mirrored":
        return _mirrored(devices)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return _mirrored(None)
    return tf.distribute.get_strategy()


# One MirroredStrategy per device set and process: two strategies over the same devices number
# their collective ops alike, and the second one's all-reduces then abort with "Shape mismatch
# in the collective instance" (seen when a tuner and a trainer ran in one process).
_MIRRORED = {}


def _mirrored(devices):
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    key = tuple(strategy.extended.worker_devices)
    return _MIRRORED.setdefault(key, strategy)


def _device_key(name):
    spec = tf.DeviceSpec.from_string(name)
    return (spec.device_type or "").upper(), spec.device_index or 0


class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` that accepts the reductions Keras 3's `fit` asks of it.

    Keras 3 (`keras/src/backend/tensorflow/trainer.py`) reduces a whole nested batch in one
    `strategy.reduce` call, and scalar step logs with `axis=0`; the multi-worker strategy
    takes one value at a time and no axis on scalars, so plain `fit` fails with "Invalid
    reduction dimension 0 for input with 0 dimensions" (tensorflow/tensorflow#72388); and it
    reduces a first batch of uint8 images, a type collectives do not take. Here each leaf is
    reduced on its own, scalars over replicas only, other dtypes through float32. Everything
    else is unchanged.
    """

    _COLLECTIVE_DTYPES = (tf.bfloat16, tf.float16, tf.float32, tf.float64, tf.int32, tf.int64)

    def reduce(self, reduce_op, value, axis):
        base = super(KerasMultiWorkerMirroredStrategy, self)

        def one(v):
            local = self.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v
            rank = getattr(getattr(local, "shape", None), "rank", None)
            axis_ = None if rank == 0 else axis
            dtype = getattr(local, "dtype", None)
            if dtype is None or dtype in self._COLLECTIVE_DTYPES:
                return base.reduce(reduce_op, v, axis_)
            return tf.cast(base.reduce(reduce_op, self._to_float(v), axis_), dtype)

        return tf.nest.map_structure(one, value)

    @tf.function
    def _to_float(self, v):
        return self.run(lambda t: tf.cast(t, tf.float32), args=(v,))


def num_workers(tf_config=None):
    """Workers (chief included) in the cluster of `TF_CONFIG`; 1 without one."""
    raw = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if not raw:
        return 1
    cluster = (json.loads(raw) if isinstance(raw, str) else raw).get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def is_chief(strategy):
    """True for the worker that writes a run's outputs (always, outside multi-worker training)."""
    return bool(getattr(strategy.extended, "should_checkpoint", True))


def worker_index(strategy):
    """This worker's task index under a multi-worker strategy, else 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0)


def auto_shard_policy(num_files, workers):
    """The input sharding for `workers` workers reading a split stored in `num_files` files.

    * one worker: `DATA` (nothing is sharded; kept explicit so options never change).
    * `FILE` when every worker gets a fair share of whole files: the files divide evenly, or
      there are at least 8 per worker. Each worker then reads only its files (1/N of the
      I/O), and workers see disjoint examples whatever their shuffle order.
    * `DATA` otherwise (e.g. a 1-file validation split): every worker reads every file and
      keeps its share of the batches; right because our pipelines give every worker the
      same order (deterministic given the seed).

    Args:
        num_files: files of the split.
        workers: workers in the cluster.

    Returns:
        A `tf.data.experimental.AutoShardPolicy`.
    """
    if num_files < 1:
        raise ValueError(f"a split needs at least one file, got {num_files}")
    if workers <= 1:
        return _Policy.DATA
    if num_files >= workers and (
        num_files % workers == 0 or num_files >= FILES_PER_WORKER_FOR_UNEVEN * workers
    ):
        return _Policy.FILE
    return _Policy.DATA


def distribute_options(dataset, num_files=None, workers=None):
    """Sets the dataset's auto-shard policy explicitly (see `auto_shard_policy`).

    Args:
        dataset: the batched input pipeline, as given to `fit`.
        num_files: files the pipeline reads; unknown (None) means `DATA`, right for any count.
        workers: workers in the cluster (default: from `TF_CONFIG`).

    Returns:
        The dataset with the policy in its options.
    """
    if num_files is None:
        policy = _Policy.DATA
    else:
        policy = auto_shard_policy(num_files, num_workers() if workers is None else workers)
    if dataset.options().experimental_distribute.auto_shard_policy == policy:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return dataset.with_options(options)


def setup(cfg):
    """Everything a run fixes before its first model, in order: determinism, dtype policy, strategy.

    Called once, first, by the CLI (a multi-worker strategy must exist before any TF op).

    Args:
        cfg: the run's `ExperimentConfig` (`deterministic`, `mixed_precision`, `strategy`).

    Returns:
        The `tf.distribute.Strategy`.
    """
    import keras

    if cfg.deterministic:
        # Same seed, same numbers: deterministic kernels (slower) and every seed set per stage.
        tf.config.experimental.enable_op_determinism()
    if cfg.mixed_precision:
        has_gpu = bool(tf.config.list_physical_devices("GPU"))
        policy = runtime.resolve_policy(cfg.mixed_precision, has_gpu)
        note = runtime.bfloat16_note(policy, has_gpu)
        if note:
            print(note, flush=True)
        keras.mixed_precision.set_global_policy(policy)
    return get_strategy(cfg.strategy)
