"""Strategy specs, mirrored == one device, the auto-shard choice, and a real two-worker run.

One mirrored step == one device step for the Distiller is also in
tests/test_distiller.py::test_mirrored_step_equals_single_device; here several steps, with
optimizer state carried between them.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset  # what each worker runs

from mimic_keras import distribute, training
from mimic_keras.config import MimicConfig, TeacherConfig
from mimic_keras.data import cifar10, records, writer
from mimic_keras.distiller import Distiller
from mimic_keras.models.mimics import build_mimic
from mimic_keras.models.convnet import build_teacher
from tests.helpers import toy_images

FILE, DATA = tf.data.experimental.AutoShardPolicy.FILE, tf.data.experimental.AutoShardPolicy.DATA
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_parse_strategy():
    assert distribute.parse_strategy("default") == ("default", None)
    assert distribute.parse_strategy("multi_worker") == ("multi_worker", None)
    assert distribute.parse_strategy("mirrored:/cpu:0, /cpu:1") == ("mirrored", ["/cpu:0", "/cpu:1"])
    for bad in ("tpu", "mirrored:", "default:/cpu:0", "multi_worker:/gpu:0"):
        with pytest.raises(ValueError, match="strategy"):
            distribute.parse_strategy(bad)


def test_mirrored_on_the_listed_devices():
    strategy = distribute.get_strategy("mirrored:/cpu:0,/cpu:1")  # conftest splits the CPU in two
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2
    assert distribute.get_strategy("mirrored", devices=["/cpu:1"]).num_replicas_in_sync == 1
    assert distribute.get_strategy("default").num_replicas_in_sync == 1  # no GPUs here
    with pytest.raises(ValueError, match="no device '/gpu:3'"):
        distribute.get_strategy("mirrored:/cpu:0,/gpu:3")


@pytest.mark.parametrize("online", [False, True])
def test_mirrored_steps_equal_one_device_with_the_same_global_batch(online):
    """4 Adam steps, global batch 16: 2 replicas x 8 on 2 logical CPUs vs 1 x 16. Tolerance 1e-5."""
    x, y = toy_images(64)
    keras.utils.set_random_seed(2)
    teacher = build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,)))
    targets = y if online else {"logits": teacher.predict(x, verbose=0), "label": y}

    def train(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            student = build_mimic(MimicConfig(conv_filters=4, conv_kernel=3, bottleneck=8, hidden=32))
            d = Distiller(student, teacher=teacher if online else None, alpha=0.8)
            d.compile(optimizer=keras.optimizers.Adam(1e-2))
        history = d.fit(tf.data.Dataset.from_tensor_slices((x, targets)).batch(16), epochs=1, verbose=0).history
        return [w.numpy() for w in student.weights], history["loss"][0]

    single, single_loss = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored, mirrored_loss = train(distribute.get_strategy("mirrored:/cpu:0,/cpu:1"))
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)
    assert mirrored_loss == pytest.approx(single_loss, rel=1e-5)


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.get_strategy("multi_worker")


def test_num_workers_from_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.num_workers() == 1
    cluster = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    assert distribute.num_workers() == 3


@pytest.mark.parametrize(
    "files, workers, policy",
    [
        (1, 1, DATA), (40, 1, DATA),  # one worker: nothing is sharded
        (1, 2, DATA),  # a one-file validation split: every worker reads it
        (2, 2, FILE), (4, 2, FILE), (12, 4, FILE),  # files divide evenly
        (3, 2, DATA), (10, 4, DATA),  # uneven and few: a worker would get half as much again
        (17, 2, FILE), (33, 4, FILE),  # uneven but >= 8 per worker: imbalance <= 1/8
    ],
)
def test_auto_shard_policy(files, workers, policy):
    assert distribute.auto_shard_policy(files, workers) == policy


def test_distribute_options_sets_the_policy():
    ds = tf.data.Dataset.range(8)
    assert distribute.distribute_options(ds).options().experimental_distribute.auto_shard_policy == DATA
    filed = distribute.distribute_options(ds, num_files=4, workers=2)
    assert filed.options().experimental_distribute.auto_shard_policy == FILE
    assert distribute.distribute_options(filed, num_files=4, workers=2) is filed  # unchanged: no new options
    with pytest.raises(ValueError):
        distribute.auto_shard_policy(0, 2)


@pytest.mark.parametrize("shards", [4, 1])
def test_workers_see_disjoint_examples_covering_the_split(tmp_path, shards):
    """Our training pipeline (parallel reads, unseeded shuffle) as each of 2 workers reads it."""
    data = str(tmp_path / "data")
    images, labels = toy_images(16)
    recs = [records.image_example(tf.io.encode_png(x).numpy(), int(y), f"train/{i}") for i, (x, y) in
            enumerate(zip(images, labels))]
    writer.write_manifest(data, {"splits": {"train": {"count": 16, "shards": writer.write_shards(data, "train", recs, shards)}}})

    def worker(index):
        ds = cifar10.input_pipeline(cifar10.load_split(data, "train"), 2, training=True)  # no seed
        ds = distribute.distribute_options(ds, num_files=shards, workers=2)
        return [img.tobytes() for batch, _ in _AutoShardDataset(ds, 2, index).as_numpy_iterator() for img in batch]

    seen = [worker(0), worker(1)]
    assert len(seen[0]) == len(seen[1]) == 8
    if shards == 4:  # FILE: each worker reads its own 2 files; together the split, once
        assert not set(seen[0]) & set(seen[1])
        assert len(set(seen[0]) | set(seen[1])) == 16


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.large  # ~45 s on 2 busy cores: two TF processes, gRPC collectives
def test_two_workers_train_a_mimic_and_agree(tmp_path):
    """`python -m mimic_keras.fit mimic strategy=multi_worker` as 2 processes on 127.0.0.1."""
    from tests.test_faults import build_mimic_workdir, mimic_command

    workdir = build_mimic_workdir(str(tmp_path / "run"), n_train=128, shards=2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        log = open(tmp_path / f"worker_{index}.log", "w")
        cmd = [sys.executable, "-m", "mimic_keras.fit", *mimic_command(workdir, "strategy=multi_worker")]
        procs.append((subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        codes = [p.wait(timeout=300) for p, _ in procs]
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
            log.close()
    logs = [(tmp_path / f"worker_{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]

    chief_dir = os.path.join(workdir, "mimic")
    other_dir = os.path.join(chief_dir, "worker_1")
    chief = keras.saving.load_model(os.path.join(chief_dir, "model.keras"))
    other = keras.saving.load_model(os.path.join(other_dir, "model.keras"))
    for a, b in zip(chief.weights, other.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6)  # all-reduced: the same
    history = training.read_history(chief_dir)
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["loss"][-1] < history["loss"][0]
    assert training.read_history(other_dir) == history
    assert "8/8" in logs[0]  # 128 examples, global batch 16: 8 steps of 8 examples per worker


def test_one_mirrored_strategy_per_device_set():
    # Two strategies over the same devices in one process break each other's all-reduces.
    a = distribute.get_strategy("mirrored:/cpu:0,/cpu:1")
    assert distribute.get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"]) is a
    assert distribute.get_strategy("mirrored:/cpu:1") is not a
