"""Shared pytest setup: the `large` marker and the `--run-large` switch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import shutil  # noqa: E402

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
    config.addinivalue_line("markers", "beam: needs the beam extra (apache-beam)")


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


@pytest.fixture(scope="session")
def timit_perturbed_records(tmp_path_factory):
    """The same tiny corpus converted with speed-perturbed copies at 0.9 and 1.1 (read-only)."""
    from pipelines import timit_to_tfrecord
    from tests import timit_fixtures

    root = timit_fixtures.make_corpus(str(tmp_path_factory.mktemp("timit") / "TIMIT"))
    out = str(tmp_path_factory.mktemp("timit_perturbed"))
    timit_to_tfrecord.convert(root, out, perturb=(0.9, 1.1), log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def timit_perturbed_labelled(timit_perturbed_records, tmp_path_factory):
    """(data, transfer, teacher): the perturbed fixture labelled, every split, by a tiny linear teacher."""
    import keras

    from mimic_keras.data import timit
    from pipelines import label_timit_with_teacher

    root = tmp_path_factory.mktemp("timit_labelled")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((timit.INPUT_DIM,))
    teacher = str(root / "teacher.keras")
    keras.Model(inputs, keras.layers.Dense(timit.NUM_STATES, name="logits")(inputs)).save(teacher)
    transfer = str(root / "transfer")
    label_timit_with_teacher.label(timit_perturbed_records, [teacher], transfer, shards=2)
    return timit_perturbed_records, transfer, teacher


# A tiny CIFAR-10-style run through every stage, shared by the tests of fit, stages and tune.
@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished `fit all` of the quick preset shrunk to seconds: (workdir, exports, argv)."""
    from mimic_keras import fit
    from tests.helpers import TINY, image_tree

    root = tmp_path_factory.mktemp("fit")
    source = image_tree(str(root / "images"))
    workdir, exports = str(root / "run"), str(root / "saved_models")
    args = ["all", "--preset", "cifar10-quick", "--workdir", workdir, f"data.source={source}",
            f"export.dir={exports}", *TINY]
    assert fit.main(args) == 0
    return workdir, exports, args


@pytest.fixture
def tiny_copy(tiny_run, tmp_path):
    """A copy of the finished tiny run (its own workdir and exports), for tests that change it."""
    workdir, exports, args = tiny_run
    copy = str(tmp_path / "run")
    shutil.copytree(workdir, copy)
    exports_copy = str(tmp_path / "saved_models")
    shutil.copytree(exports, exports_copy)
    args = [a.replace(workdir, copy).replace(exports, exports_copy) for a in args]
    return copy, args


