"""Installs mimic_keras: `pip install -e .[test]` (add `tfio` for tensorflow-io audio decoding,
`beam` for the jobs' Apache Beam runner)."""

from setuptools import find_packages, setup

setup(
    name="mimic_keras",
    version="0.1.0",
    description="Model compression into shallow mimic nets (Ba & Caruana, NIPS 2014) in Keras 3.",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",  # the pins in requirements.txt need 3.11
    packages=find_packages(include=["mimic_keras", "mimic_keras.*", "pipelines", "pipelines.*"]),
    # TensorFlow comes through an extra so that a machine keeps the build it has: `cpu` installs
    # tensorflow-cpu (the tested default, see requirements.txt), `gpu` the CUDA build. Both
    # provide the `tensorflow` module; installing both would fight over it.
    install_requires=[
        "keras>=3.3",
        "tensorboard",
        "tensorflow-datasets",
        "importlib_resources",  # tensorflow-datasets' downloads need it but do not declare it
        "librosa",
        "keras-tuner",
        "numpy",
        "scipy",  # speed perturbation (pipelines/timit_to_tfrecord.py --perturb)
        "matplotlib",
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.16"],
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        "test": ["pytest"],
        # tensorflow-io 0.37's compiled ops load only on TF 2.16-2.17: see requirements-tfio.txt.
        "tfio": ["tensorflow-io==0.37.1", "tensorflow-io-gcs-filesystem==0.37.1"],
        # The data jobs on Apache Beam (`--runner beam`): its resolver moves protobuf from 7.x to 6.33,
        # which TF 2.21 takes; see requirements-beam.txt and .ci/run's Beam lane.
        "beam": ["apache-beam==2.77.0"],
    },
)
