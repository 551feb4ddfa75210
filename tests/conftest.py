"""Shared pytest setup: the `large` marker and the `--run-large` switch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so multi-replica code (MirroredStrategy) is testable on one CPU.
# Must happen before TensorFlow initialises its devices, hence here, at collection time.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", help="also run tests marked large (slow)")


def pytest_configure(config):
    config.addinivalue_line("markers", "large: slow test, run only with --run-large")
    config.addinivalue_line("markers", "tfio: needs the tensorflow-io extra")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip = pytest.mark.skip(reason="large test: pass --run-large to run it")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def timit_records(tmp_path_factory):
    """A tiny synthetic TIMIT corpus converted once to TFRecords (read-only for tests)."""
    from pipelines import timit_to_tfrecord
    from tests import timit_fixtures

    root = timit_fixtures.make_corpus(str(tmp_path_factory.mktemp("timit") / "TIMIT"))
    out = str(tmp_path_factory.mktemp("timit_records"))
    timit_to_tfrecord.convert(root, out, log=lambda *_: None)
    return out
