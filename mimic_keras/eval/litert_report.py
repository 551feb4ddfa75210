"""The LiteRT variants of an export, scored on the test split beside the Keras model they came from.

`score` runs each `<version>/litert/<variant>.tflite` with the LiteRT interpreter over the
whole test split (the task's `deployed_scores`: accuracy; TIMIT frame accuracy and PER with
the model's tuned decoder) and flags a variant whose accuracy is more than
`litert.FLAG_POINTS` points below the Keras model's. `write` puts the results in the workdir
as litert.json and a Markdown table, litert.md, which `fit` prints after the report.
"""

import os

from mimic_keras import litert
from mimic_keras.data import writer


def score(task, layout, model, version_dir, role):
    """{"keras": scores, "variants": {variant: scores + `bytes`, `path`, `flagged`}} of one exported model."""
    keras_scores = task.deployed_scores(layout, lambda x: model(x, training=False), role)
    variants = {}
    for variant in task.cfg.export.tflite:
        path = os.path.join(version_dir, "litert", f"{variant}.tflite")
        scores = task.deployed_scores(layout, litert.LiteModel(path), role)
        variants[variant] = {**scores, "bytes": os.path.getsize(path), "path": path,
                             "flagged": litert.flag(keras_scores["test_accuracy"], scores["test_accuracy"])}
    return {"keras": keras_scores, "variants": variants, "interpreter": litert.interpreter_class()[1]}


def markdown(results):
    """The LiteRT table: one row per model and variant, the Keras model first."""
    lines = ["### LiteRT variants on the test split",
             "",
             "| model | variant | size (bytes) | test accuracy | Δ vs Keras (points) | PER | flagged |",
             "|---|---|---:|---:|---:|---:|---|"]
    interpreter = "ai_edge_litert"
    for role, r in results.items():
        base = r["keras"]["test_accuracy"]
        interpreter = r.get("interpreter", interpreter)
        per = r["keras"].get("test_per")
        lines.append(f"| {role} | Keras | — | {base:.2%} | — | {'—' if per is None else f'{per:.2%}'} | |")
        for variant, v in r["variants"].items():
            per = v.get("test_per")
            lines.append(
                f"| {role} | {variant} | {v['bytes']:,} | {v['test_accuracy']:.2%} | "
                f"{(v['test_accuracy'] - base) * 100:+.2f} | {'—' if per is None else f'{per:.2%}'} | "
                f"{'**yes: lost > %g points**' % litert.FLAG_POINTS if v['flagged'] else 'no'} |")
    lines += ["", f"Each `.tflite` file run by `{interpreter}` over the whole test split; a variant is flagged when "
              f"its accuracy is more than {litert.FLAG_POINTS:g} point below the Keras model's."]
    return "\n".join(lines) + "\n"


def write(layout, results):
    """Writes litert.json and litert.md into the workdir."""
    writer.write_json_atomic(layout.litert_json, results)
    tmp = layout.litert_md + ".tmp"
    with open(tmp, "w") as f:
        f.write(markdown(results))
    os.replace(tmp, layout.litert_md)
