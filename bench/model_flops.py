"""Parameters, FLOPs per image and test accuracy of a run's models, as a Markdown table.

    python bench/model_flops.py WORKDIR

FLOPs are TensorFlow's profiler count (`float_ops`: a multiply-add is 2) over one image through
the model's graph with its weights frozen; test accuracy is the run's `report.json`.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

from mimic_keras.layout import Layout  # noqa: E402
from mimic_keras.models import adapters  # noqa: E402, F401  (registers the teacher wrappers' layers)


def flops_per_image(model):
    """The profiler's float operations for one image through `model`."""
    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], model.inputs[0].dtype)
    frozen = convert_variables_to_constants_v2(tf.function(lambda x: model(x, training=False)).get_concrete_function(spec))
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops


def main(workdir):
    layout = Layout(workdir)
    with open(layout.report_json) as f:
        report = {r["model"]: r for r in json.load(f)["models"]}
    print("| model | parameters | FLOPs per image | test accuracy (± 95% CI) |\n|---|---:|---:|---:|")
    for role, row in report.items():
        if not os.path.exists(layout.model(role)):
            continue
        model = keras.saving.load_model(layout.model(role), compile=False)
        print(f"| {role} | {model.count_params():,} | {flops_per_image(model):,} | "
              f"{row['test_accuracy']:.2%} ± {row['test_accuracy_ci95']:.2%} |")


if __name__ == "__main__":
    main(sys.argv[1])
