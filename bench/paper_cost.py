"""What the paper-sized presets cost: FLOPs per stage, and time extrapolated from a measured run.

    python bench/paper_cost.py --measured runs/cifar10-cpu [--gpu-tflops 25 100]

Counts the forward multiply-adds of every Conv/Dense layer of the models a preset builds
(training ≈ 3 × forward FLOPs per example: forward, input gradients, weight gradients;
labelling = forward only), multiplies by the examples each stage sees, and divides by the
FLOP/s this machine achieved in a finished run (`--measured`: its teacher's and mimic's
epochs, timed from their TensorBoard logs). The convnet rate times convolutional models, the
mimic's rate the rest. `--gpu-tflops` adds columns at assumed sustained rates: assumptions,
not measurements (no GPU ran this).
"""

import argparse
import glob
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mimic_keras import config as config_lib  # noqa: E402
from mimic_keras.tasks import get_task  # noqa: E402

TIMIT_TRAIN_FRAMES = 1_124_823  # TIMIT's 3696 SX+SI training utterances at a 10 ms hop
CIFAR_TRAIN = 45_000  # 50,000 minus the 5,000 validation images


def forward_flops(model):
    """2 × multiply-adds of the Conv and Dense layers for one example."""
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Dense):
            out = layer.output.shape
            total += 2 * int(np.prod(out[1:-1] or [1])) * layer.kernel.shape[0] * layer.units
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)):
            out = layer.output.shape
            total += 2 * int(np.prod(out[1:-1])) * int(np.prod(layer.kernel.shape))
    return total


def _epoch_seconds(run_dir):
    """Median seconds per epoch from a run folder's TensorBoard training log."""
    import tensorflow as tf

    times = []
    for path in sorted(glob.glob(os.path.join(run_dir, "logs", "train", "*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            if any(v.tag == "epoch_loss" for v in event.summary.value):
                times.append(event.wall_time)
    if len(times) < 2:
        raise ValueError(f"{run_dir} has fewer than 2 logged epochs")
    return float(np.median(np.diff(times)))


def measured_rates(workdir):
    """Achieved training FLOP/s of the run's teacher (convnet) and mimic."""
    cfg = config_lib.get_preset(os.path.join(workdir, "config.json"))
    task = get_task(cfg.data.dataset)
    manifest = os.path.join(workdir, "transfer")
    from mimic_keras.data import writer

    transfer = writer.read_manifest(manifest)["splits"]["train"]["count"]
    train = writer.read_manifest(os.path.join(workdir, "data"))["splits"]["train"]["count"]
    teacher = 3 * forward_flops(task.build_teacher(cfg, 0)) * train / _epoch_seconds(os.path.join(workdir, "teacher", "teacher_0"))
    mimic = 3 * forward_flops(task.build_student(cfg, "mimic")) * transfer / _epoch_seconds(os.path.join(workdir, "mimic"))
    return {"conv": teacher, "dense": mimic}


def stages(preset):
    """[(stage, examples × forward FLOPs × factor, uses convolutions)] of a preset's `all`."""
    cfg = config_lib.get_preset(preset)
    task = get_task(cfg.data.dataset)
    if cfg.data.dataset == "cifar10":
        train, transfer = CIFAR_TRAIN, CIFAR_TRAIN * (cfg.data.views + 1)
    else:
        train = transfer = TIMIT_TRAIN_FRAMES
    rows = []
    label = 0
    for i in range(cfg.teacher.num_teachers):
        teacher = task.build_teacher(cfg, i)
        flops = forward_flops(teacher)
        conv = any(isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D)) for layer in teacher._flatten_layers())
        rows.append((f"teacher {i} ({teacher.count_params() / 1e6:.1f}M)", 3 * flops * train * cfg.teacher_train.epochs, conv))
        label += flops * transfer
    rows.append((f"label ({transfer:,} examples)", label, cfg.data.dataset == "cifar10"))
    student = task.build_student(cfg, "mimic")
    flops = forward_flops(student)
    conv = bool(cfg.mimic.conv_filters)
    rows.append((f"mimic ({student.count_params() / 1e6:.1f}M)", 3 * flops * transfer * cfg.mimic_train.epochs, conv))
    rows.append(("control", 3 * flops * train * cfg.control_train.epochs, conv))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measured", required=True, help="a finished run workdir (e.g. runs/cifar10-cpu)")
    parser.add_argument("--presets", nargs="*", default=["cifar10-paper", "timit-paper"])
    parser.add_argument("--gpu-tflops", nargs="*", type=float, default=[25.0, 100.0],
                        help="assumed sustained TFLOP/s for the extra columns")
    args = parser.parse_args(argv)
    rates = measured_rates(args.measured)
    print(f"measured on this machine ({args.measured}): convnet teacher {rates['conv'] / 1e9:.1f} GFLOP/s, "
          f"mimic {rates['dense'] / 1e9:.1f} GFLOP/s (training, 3 × forward)")
    gpu_head = "".join(f"  at {t:g} TFLOP/s" for t in args.gpu_tflops)
    for preset in args.presets:
        rows = stages(preset)
        print(f"\n{preset}\n  {'stage':<34}{'PFLOP':>10}{'this machine':>16}{gpu_head}")
        total = np.zeros(1 + len(args.gpu_tflops))
        for name, flops, conv in rows:
            hours = [flops / rates["conv" if conv else "dense"] / 3600] + [flops / (t * 1e12) / 3600 for t in args.gpu_tflops]
            total += hours
            gpu = "".join(f"{h:>{len(f'  at {t:g} TFLOP/s')}.2f}" for h, t in zip(hours[1:], args.gpu_tflops))
            print(f"  {name:<34}{flops / 1e15:>10.2f}{hours[0]:>14.1f} h{gpu}")
        gpu = "".join(f"{h:>{len(f'  at {t:g} TFLOP/s')}.2f}" for h, t in zip(total[1:], args.gpu_tflops))
        print(f"  {'all':<34}{'':>10}{total[0]:>14.1f} h{gpu}   (GPU columns in hours)")


if __name__ == "__main__":
    main()
