"""A fourth dataset that lives only in the tests: float feature vectors drawn from Gaussian clusters.

It proves the dataset seam: registered with one `mimic_keras.configs.DATASETS` entry
(`"clusters": "tests.clusters.config"`), it runs through every stage of `fit all` with no
dataset-specific code anywhere in `mimic_keras/`. Its files, one per piece a dataset brings:

    config.py    the data section, teacher kinds, rules and preset (no TensorFlow)
    records.py   its TFRecord spec, reader and input pipelines
    convert.py   the prepare job: an `.npz` of vectors and labels → TFRecords + manifest
    label.py     the label job: the teachers' logits over the transfer set
    task.py      the `Task`: models, datasets, scorer, export
"""

import numpy as np

CLASSES = ("north", "east", "south", "west")
FEATURES = 6


def write_source(path, per_class=40, test_per_class=10, seed=0):
    """Writes the dataset's raw form, an `.npz` of `x_train`, `y_train`, `x_test`, `y_test`, `classes`.

    Each class is a Gaussian cluster (σ 0.6) around its own random centre in `FEATURES` dimensions.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, (len(CLASSES), FEATURES))

    def draw(count):
        labels = np.repeat(np.arange(len(CLASSES)), count)
        return (centres[labels] + rng.normal(0.0, 0.6, (len(labels), FEATURES))).astype(np.float32), labels

    (x_train, y_train), (x_test, y_test) = draw(per_class), draw(test_per_class)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, classes=np.array(CLASSES))
    return path
