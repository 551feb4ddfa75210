"""Offline jobs that turn raw data (and teacher logits) into TFRecords."""

from mimic_keras import console

if console.launched_with_dash_m():  # `python -m pipelines.<job>`: quiet before the job loads TensorFlow
    console.quiet()
