"""Inference cost of a finished run's teacher, ensemble and mimic, in each deployment format.

    python bench/inference.py --workdir runs/cifar10-quick [--calls 200] [--batch 256] [--variants float32,dynamic,int8]

For each model (teacher_<i>, the ensemble of the teachers when there are several, the mimic)
and format (the Keras model's `predict_on_batch`, the exported SavedModel's `serving_default`
signature, each LiteRT variant run by `ai_edge_litert`): parameters, FLOPs per example (2 ×
the multiply-adds of the dense and convolution layers, counted from their shapes), size on disk,
test accuracy (Keras: the run's report.json; SavedModel: the same graph; LiteRT: each file run
over the whole test split), batch-1 latency (p50 and p99 over `--calls` calls, after 20 warm-up
calls) and batch-`--batch` throughput (examples/s over 20 calls). Then the mimic's cost as a
fraction of the teacher's, format by format, and the accuracy it keeps.

Everything is measured in this one run, one model after another, on real inputs (the transfer
set's first examples). The run's folder is only read; exports go to a temporary folder.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mimic_keras import config as config_lib, litert  # noqa: E402
from mimic_keras.layout import Layout  # noqa: E402
from mimic_keras.models.ensemble import build_ensemble  # noqa: E402
from mimic_keras.models.layers import GroupedDense  # noqa: E402
from mimic_keras.tasks import get_task  # noqa: E402

WARMUP = 20
THROUGHPUT_CALLS = 20


def flops_per_example(model):
    """2 × multiply-adds of every Dense, grouped dense and convolution layer (nested models included), per example."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += flops_per_example(layer)
        elif isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.output.shape[1:-1])) if len(layer.output.shape) > 2 else 1
            total += 2 * int(np.prod(layer.kernel.shape)) * positions
        elif isinstance(layer, GroupedDense):  # block-diagonal: the G blocks' weights only
            total += 2 * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            total += 2 * int(np.prod(layer.kernel.shape)) * int(np.prod(layer.output.shape[1:-1]))
    return total


def disk_size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, files in os.walk(path) for f in files)


def timings(fn, single, batch, calls, batch_fn=None):
    """(p50 ms, p99 ms) of batch-1 calls of `fn` and examples/s of batch calls of `batch_fn` (default `fn`)."""
    batch_fn = batch_fn or fn
    for _ in range(WARMUP):
        fn(single)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(single)
        times.append(time.perf_counter() - start)
    batch_fn(batch)
    start = time.perf_counter()
    for _ in range(THROUGHPUT_CALLS):
        batch_fn(batch)
    rate = THROUGHPUT_CALLS * len(batch) / (time.perf_counter() - start)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3), rate


def _export(task, model, folder):
    from mimic_keras.export import export_frame_classifier, export_image_classifier

    if task.name == "timit":
        return export_frame_classifier(model, folder, model.name, context=task.cfg.data.context)
    return export_image_classifier(model, folder, model.name)


def _report_accuracy(layout, role):
    with open(layout.report_json) as f:
        row = next(r for r in json.load(f)["models"] if r["model"] == role)
    return row["test_accuracy"] if "test_accuracy" in row else row["test"]["state_accuracy"]


def measure(workdir, calls, batch_size, variants, threads):
    layout = Layout(workdir)
    with open(layout.config) as f:
        cfg = config_lib.from_dict(json.load(f))
    task = get_task(cfg)
    models = {f"teacher_{i}": keras.saving.load_model(p, compile=False)
              for i, p in enumerate(task.teacher_paths(layout))}
    if len(models) > 1:
        models["ensemble"] = build_ensemble([keras.saving.load_model(p, compile=False)
                                            for p in task.teacher_paths(layout)])
    models["mimic"] = keras.saving.load_model(layout.model("mimic"), compile=False)
    inputs = task.representative(layout, max(batch_size, 300))
    single, batch = inputs[:1], inputs[:batch_size]
    rows = []
    tmp = tempfile.mkdtemp(prefix="bench-inference-")
    try:
        for role, model in models.items():
            common = {"model": role, "parameters": int(model.count_params()), "flops": flops_per_example(model)}
            accuracy = _report_accuracy(layout, role)
            keras_path = layout.model(role) if role != "ensemble" else None
            size = disk_size(keras_path) if keras_path else sum(disk_size(p) for p in task.teacher_paths(layout))
            p50, p99, rate = timings(model.predict_on_batch, single, batch, calls)
            rows.append({**common, "format": "Keras", "bytes": size, "test_accuracy": accuracy,
                         "p50_ms": p50, "p99_ms": p99, "throughput": rate})
            print(rows[-1], flush=True)
            version = _export(task, model, tmp)
            serve = tf.saved_model.load(version).signatures["serving_default"]
            key = next(iter(serve.structured_input_signature[1]))
            p50, p99, rate = timings(lambda x: serve(**{key: tf.constant(x)}), single, batch, calls)
            rows.append({**common, "format": "SavedModel", "bytes": disk_size(version), "test_accuracy": accuracy,
                         "p50_ms": p50, "p99_ms": p99, "throughput": rate})
            print(rows[-1], flush=True)
            for variant in variants:
                content = litert.convert(model, variant, representative=inputs)
                lite = litert.LiteModel(content, threads=threads)
                scores = task.deployed_scores(layout, lite, role if role != "ensemble" else "mimic")
                one, many = litert.LiteModel(content, threads=threads), litert.LiteModel(content, threads=threads)
                p50, p99, rate = timings(one, single, batch, calls, batch_fn=many)  # each keeps its tensor sizes
                rows.append({**common, "format": f"LiteRT {variant}", "bytes": len(content),
                             "test_accuracy": scores["test_accuracy"], "p50_ms": p50, "p99_ms": p99,
                             "throughput": rate})
                print(rows[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cfg, rows


def markdown(rows, calls, batch_size):
    lines = [f"| model | format | parameters | MFLOPs / example | size (bytes) | test accuracy | batch-1 p50 (ms) "
             f"| batch-1 p99 (ms) | batch-{batch_size} (examples/s) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['format']} | {r['parameters']:,} | {r['flops'] / 1e6:,.2f} | {r['bytes']:,} | "
                     f"{r['test_accuracy']:.2%} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['throughput']:,.0f} |")
    by = {(r["model"], r["format"]): r for r in rows}
    reference = "teacher_0"
    lines += ["", f"Mimic / {reference}, format by format (cost ratios: lower is cheaper; accuracy kept: mimic's / "
              "teacher's):", "",
              "| format | parameters | FLOPs | size | batch-1 p50 latency | time per example at the batch size "
              "| accuracy kept |", "|---|---:|---:|---:|---:|---:|---:|"]
    for fmt in dict.fromkeys(r["format"] for r in rows):
        m, t = by.get(("mimic", fmt)), by.get((reference, fmt))
        if m and t:
            lines.append(f"| {fmt} | {m['parameters'] / t['parameters']:.3f} | {m['flops'] / t['flops']:.3f} | "
                         f"{m['bytes'] / t['bytes']:.3f} | {m['p50_ms'] / t['p50_ms']:.3f} | "
                         f"{t['throughput'] / m['throughput']:.3f} | {m['test_accuracy'] / t['test_accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="a finished run (teacher, mimic, report.json)")
    parser.add_argument("--calls", type=int, default=200, help="batch-1 calls timed per model and format (>= 200)")
    parser.add_argument("--batch", type=int, default=256, help="batch size of the throughput calls")
    parser.add_argument("--variants", default="float32,dynamic,int8", help="LiteRT variants")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="LiteRT interpreter threads")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    cfg, rows = measure(args.workdir, args.calls, args.batch, variants, args.threads)
    print(f"\n{cfg.name}: {os.cpu_count()} CPU cores, LiteRT by {litert.interpreter_class()[1]} "
          f"({args.threads} threads), TensorFlow {tf.__version__}\n")
    print(markdown(rows, args.calls, args.batch))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"name": cfg.name, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
