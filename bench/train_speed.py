"""Mimic training speed: bare Keras, the project's `Distiller`, a PyTorch loop, other Keras backends.

    python bench/train_speed.py [--rounds 3] [--quick] [--mimics cifar timit] [--cases NAME ...]

For each mimic (CIFAR-10 conv mimic: uint8 32×32×3 → conv 128 5×5 → pool → k 1200 → H 8000 → 10,
batch 128; TIMIT MLP mimic: 1845 → k 250 → H 8000 → 183, batch 512) every case trains the same
shapes with the same optimizer (SGD, learning rate 0.01, Nesterov momentum 0.9: what
`mimic_train.optimizer=sgd` builds) on data held in memory, each in a fresh process; the cases
alternate, `--rounds` times. Per case: the median step time after warm-up (wall clock and CPU
time of all threads, the steadier measure on a shared machine), samples/s, the fraction of
the machine's float32 GEMM ceiling (2048² `tf.matmul`, measured in the same run, best of
oneDNN off and on) and the ratio to bare Keras.

Cases (`--cases` picks some; the Keras-on-JAX/torch and PyTorch cases need those packages in
the interpreters named by `--jax-python` / `--torch-python`, and are skipped when missing):

    keras             bare `model.fit` of `build_mimic`'s model, MSE, stock `keras.optimizers.SGD`,
                      TensorFlow's own CPU defaults: what a plain Keras user gets
    keras+tuned       the same model with the project's defaults (fused SGD update, oneDNN on)
    distiller         the project's default path: `Distiller` with cached logits, compiled by
                      `tasks.training.compile_distiller` after `mimic_keras.runtime.configure()`,
                      as `python -m mimic_keras.fit mimic` does
    distiller:before  the Distiller as it was before issue 19: stock SGD, TensorFlow's defaults
    distiller:stock-opt    the default path but Keras's own SGD (oneDNN's share of the gain)
    distiller:oneDNN-off   the default path with TF_ENABLE_ONEDNN_OPTS=0 (the fused update's share)
    distiller:spe1    the default path with `steps_per_execution=1`
    distiller:spe8    the default path with `steps_per_execution=8`

`distiller` and `keras+tuned` run the presets' `steps_per_execution`: 1 for the conv mimic
(`cifar10-*`), 8 for the MLP (`timit-*`, `PRESET_SPE`).
    distiller:inter1  the default path with one inter-op thread
    distiller:xla     the default path with `jit_compile=True`
    torch             a plain PyTorch loop (`torch.optim.SGD`, same shapes, NCHW), tensors in memory
    keras-jax         the Distiller path on Keras's JAX backend (`KERAS_BACKEND=jax`), same tf.data
    keras-torch       the Distiller path on Keras's torch backend (`KERAS_BACKEND=torch`)

The FLOPs of a step are counted from the layer shapes (conv and matmuls: 2 × multiply-adds
forward, the same again for weight gradients and for input gradients but the first layer's).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MIMICS = {
    # name: (input shape, conv filters, kernel, bottleneck, hidden, classes, batch, timed steps)
    "cifar": ((32, 32, 3), 128, 5, 1200, 8000, 10, 128, 6),
    "timit": ((1845,), 0, 0, 250, 8000, 183, 512, 20),
}
CASES = {
    # name: (runner, worker options)
    "keras": ("tf", {"stack": "keras", "optimizer": "keras", "project_env": False}),
    "keras+tuned": ("tf", {"stack": "keras", "optimizer": "fused", "project_env": True}),
    "distiller": ("tf", {"stack": "distiller", "optimizer": "project", "project_env": True}),
    "distiller:before": ("tf", {"stack": "distiller", "optimizer": "keras", "project_env": False}),
    "distiller:stock-opt": ("tf", {"stack": "distiller", "optimizer": "keras", "project_env": True}),
    "distiller:oneDNN-off": ("tf", {"stack": "distiller", "optimizer": "project", "project_env": True, "onednn": "0"}),
    "distiller:spe1": ("tf", {"stack": "distiller", "optimizer": "project", "project_env": True, "spe": 1}),
    "distiller:spe8": ("tf", {"stack": "distiller", "optimizer": "project", "project_env": True, "spe": 8}),
    "distiller:inter1": ("tf", {"stack": "distiller", "optimizer": "project", "project_env": True, "inter": 1}),
    "distiller:xla": ("tf", {"stack": "distiller", "optimizer": "project", "project_env": True, "xla": True}),
    "torch": ("torch", {"stack": "torch"}),
    "keras-jax": ("jax", {"stack": "distiller", "optimizer": "project", "project_env": True, "backend": "jax"}),
    "keras-torch": ("torch", {"stack": "distiller", "optimizer": "project", "project_env": True,
                              "backend": "torch"}),
}
# The presets' steps per call into the graph (mimic_keras/configs): what the default path runs.
PRESET_SPE = {"cifar": 1, "timit": 8}
DEFAULT_CASES = ("keras", "keras+tuned", "distiller", "distiller:before", "distiller:spe1", "distiller:spe8", "torch",
                 "keras-jax")
QUICK_CASES = ("keras", "keras+tuned", "distiller", "distiller:before", "torch")
LR, MOMENTUM = 0.01, 0.9
WARMUP = 3


def step_flops(mimic):
    """Training FLOPs of one example."""
    shape, filters, kernel, bottleneck, hidden, classes, _, _ = MIMICS[mimic]
    macs = []
    if filters:
        height, width, channels = shape
        macs.append(height * width * filters * kernel * kernel * channels)
        features = (height // 2) * (width // 2) * filters
    else:
        (features,) = shape
    for units in (bottleneck, hidden, classes):
        macs.append(features * units)
        features = units
    return 6 * sum(macs) - 2 * macs[0]


# ----------------------------------------------------------------------------- workers


def _data(mimic, n, seed=0):
    shape, _, _, _, _, classes, _, _ = MIMICS[mimic]
    return synthetic_data(shape, classes, n, seed)


def synthetic_data(shape, classes, n, seed=0):
    """(inputs, logits, labels) of n random examples: uint8 images for (H, W, C), else float features."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if len(shape) == 3:
        x = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    else:
        x = rng.normal(size=(n, *shape)).astype(np.float32)
    return x, rng.normal(size=(n, classes)).astype(np.float32), rng.integers(0, classes, n)


def _experiment_config(mimic, opts):
    from mimic_keras.config import ExperimentConfig, MimicConfig, TrainConfig

    _, filters, kernel, bottleneck, hidden, classes, batch, _ = MIMICS[mimic]
    return ExperimentConfig(
        num_classes=classes,
        mimic=MimicConfig(conv_filters=filters, conv_kernel=kernel or 5, bottleneck=bottleneck, hidden=hidden),
        mimic_train=TrainConfig(batch_size=batch, optimizer="sgd", learning_rate=LR, schedule="constant"),
        jit_compile=bool(opts.get("xla")),
        steps_per_execution=opts.get("spe", PRESET_SPE[mimic] if opts.get("project_env") else 1),
    )


class _Clock:
    """Keras callback: wall and CPU time at the end of each execution (of `spe` steps)."""

    def __init__(self):
        import keras

        self.marks = []
        clock = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                clock.marks.append((time.perf_counter(), time.process_time()))

        self.callback = Callback()


def _median_steps(marks, per_mark):
    walls = [(b[0] - a[0]) / per_mark for a, b in zip(marks, marks[1:])]
    cpus = [(b[1] - a[1]) / per_mark for a, b in zip(marks, marks[1:])]
    return statistics.median(walls), statistics.median(cpus)


def keras_worker(mimic, opts, steps):
    if opts.get("backend"):
        os.environ["KERAS_BACKEND"] = opts["backend"]
    if opts.get("project_env"):
        from mimic_keras import runtime

        runtime.configure()
    if opts.get("onednn") is not None:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = opts["onednn"]
    if opts.get("inter"):
        os.environ["TF_NUM_INTEROP_THREADS"] = str(opts["inter"])
    import keras
    import tensorflow as tf

    from mimic_keras import optimizers
    from mimic_keras.models.mimics import build_mimic
    from mimic_keras.tasks.training import compile_distiller

    keras.utils.set_random_seed(0)
    cfg = _experiment_config(mimic, opts)
    shape, batch = MIMICS[mimic][0], MIMICS[mimic][6]
    spe = cfg.steps_per_execution
    x, z, y = _data(mimic, batch * 8)
    student = build_mimic(cfg.mimic, cfg.num_classes, input_shape=shape)
    if opts["stack"] == "keras":
        opt_class = optimizers.FusedSGD if opts["optimizer"] == "fused" else keras.optimizers.SGD
        model = student
        model.compile(optimizer=opt_class(LR, momentum=MOMENTUM, nesterov=True), loss="mse", jit_compile=cfg.jit_compile,
                      steps_per_execution=spe)
        data = tf.data.Dataset.from_tensor_slices((x, z))
    else:
        model = compile_distiller(cfg, student, steps_per_epoch=1000)
        if opts["optimizer"] == "keras":  # the optimizer the project built before issue 19
            model.compile(optimizer=keras.optimizers.SGD(LR, momentum=MOMENTUM, nesterov=True),
                          jit_compile=cfg.jit_compile, steps_per_execution=spe)
        data = tf.data.Dataset.from_tensor_slices((x, {"logits": z, "label": y}))
    data = data.repeat().batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    clock = _Clock()
    warmup = WARMUP if spe == 1 else 2  # the first execution traces; with spe > 1 each is several steps
    executions = warmup + max(2, -(-steps // spe))
    model.fit(data, steps_per_epoch=executions * spe, epochs=1, verbose=0, callbacks=[clock.callback])
    wall, cpu = _median_steps(clock.marks[warmup - 1:], spe)
    optimizer = type(model.optimizer).__name__
    return {"wall_s": wall, "cpu_s": cpu, "detail": f"{keras.backend.backend()}, {optimizer}, "
            f"oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}, {spe} step(s) per call"}


def torch_worker(mimic, opts, steps):
    import torch
    from torch import nn

    torch.manual_seed(0)
    shape, filters, kernel, bottleneck, hidden, classes, batch, _ = MIMICS[mimic]
    x, z, _ = _data(mimic, batch * 8)
    layers = []
    if filters:
        layers += [nn.Conv2d(shape[-1], filters, kernel, padding=kernel // 2), nn.ReLU(), nn.MaxPool2d(2),
                   nn.Flatten()]
        features = (shape[0] // 2) * (shape[1] // 2) * filters
        x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # NCHW, still uint8
    else:
        features = shape[0]
        x = torch.from_numpy(x)
    layers += [nn.Linear(features, bottleneck, bias=False), nn.Linear(bottleneck, hidden), nn.ReLU(),
               nn.Linear(hidden, classes)]
    model = nn.Sequential(*layers)
    z = torch.from_numpy(z)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)
    marks = []
    for step in range(WARMUP + steps):
        i = (step % 8) * batch
        xb, zb = x[i:i + batch], z[i:i + batch]
        if filters:
            xb = xb.float() / 127.5 - 1.0  # the Rescaling layer of the Keras mimic
        loss = 0.5 * ((model(xb) - zb) ** 2).sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        marks.append((time.perf_counter(), time.process_time()))
    wall, cpu = _median_steps(marks[WARMUP - 1:], 1)
    return {"wall_s": wall, "cpu_s": cpu, "detail": f"torch {torch.__version__}, {torch.get_num_threads()} threads"}


def gemm_worker(opts, n=2048, reps=8, rounds=5):
    if opts.get("onednn") is not None:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = opts["onednn"]
    import numpy as np
    import tensorflow as tf

    a = tf.constant(np.random.default_rng(0).normal(size=(n, n)).astype(np.float32))

    @tf.function
    def matmuls(x):
        for _ in range(reps):
            x = tf.matmul(x, a) * (1.0 / n)
        return tf.reduce_sum(x)

    matmuls(a).numpy()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        matmuls(a).numpy()
        rates.append(reps * 2 * n**3 / (time.perf_counter() - start))
    return {"flops": max(rates), "detail": f"oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}"}


def step_gemm_worker(mimic, opts, rounds=20):
    """The step's own convolution and matmuls alone, forward and backward, in one graph.

    What the step would cost if everything but its GEMMs were free: the ceiling at these
    shapes (thin matrices run below the 2048² rate), with the faster of oneDNN off and on.
    """
    if opts.get("onednn") is not None:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = opts["onednn"]
    import numpy as np
    import tensorflow as tf

    shape, filters, kernel, bottleneck, hidden, classes, batch, _ = MIMICS[mimic]
    rng = np.random.default_rng(0)

    def tensor(*dims):
        return tf.constant(rng.normal(size=dims).astype(np.float32))

    x = tensor(batch, *shape)
    conv_w = tensor(kernel, kernel, shape[-1], filters) if filters else None
    features = (shape[0] // 2) * (shape[1] // 2) * filters if filters else shape[0]
    dims = (features, bottleneck, hidden, classes)
    weights = [tensor(a, b) for a, b in zip(dims, dims[1:])]
    activations = [tensor(batch, d) for d in dims]  # stand-ins of the same shapes
    grads = [tensor(batch, d) for d in dims[1:]]
    conv_out = tensor(batch, shape[0], shape[1], filters) if filters else None

    @tf.function
    def gemms():
        total = 0.0
        if filters:
            total += tf.reduce_sum(tf.nn.conv2d(x, conv_w, 1, "SAME"))
            total += tf.reduce_sum(tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(conv_w), out_backprop=conv_out, strides=[1, 1, 1, 1], padding="SAME"))
        for i, w in enumerate(weights):
            total += tf.reduce_sum(activations[i] @ w)  # forward
            total += tf.reduce_sum(tf.matmul(activations[i], grads[i], transpose_a=True))  # weight gradient
            if i or filters:  # input gradient (none for the raw input of the MLP)
                total += tf.reduce_sum(tf.matmul(grads[i], w, transpose_b=True))
        return total

    gemms().numpy()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        gemms().numpy()
        times.append(time.perf_counter() - start)
    return {"wall_s": statistics.median(times),
            "detail": f"oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}"}


def worker_main(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")
    if args.worker == "gemm":
        result = gemm_worker({"onednn": args.onednn})
    elif args.worker == "step-gemms":
        result = step_gemm_worker(args.mimic, {"onednn": args.onednn})
    else:
        _, opts = CASES[args.worker]
        if opts["stack"] == "torch":
            result = torch_worker(args.mimic, opts, args.steps)
        else:
            result = keras_worker(args.mimic, opts, args.steps)
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- driver


def _has_module(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def _run(python, argv, env_extra=None, timeout=900):
    env = {**os.environ, **(env_extra or {})}
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for key in ("TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND"):  # each case sets its own
        if key not in (env_extra or {}):
            env.pop(key, None)
    proc = subprocess.run([python, os.path.abspath(__file__), *argv], capture_output=True, text=True, env=env,
                          timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds; medians over them are reported")
    parser.add_argument("--quick", action="store_true", help="one round, fewer cases and steps (a smoke run)")
    parser.add_argument("--mimics", nargs="+", choices=sorted(MIMICS), default=list(MIMICS))
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=None)
    parser.add_argument("--jax-python", default=os.environ.get("JAX_PYTHON", sys.executable),
                        help="interpreter with jax installed (env JAX_PYTHON)")
    parser.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON", sys.executable),
                        help="interpreter with torch installed (env TORCH_PYTHON)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mimic", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--onednn", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)

    started = time.perf_counter()
    rounds = 1 if args.quick else args.rounds
    cases = args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)
    pythons = {"tf": sys.executable, "jax": args.jax_python, "torch": args.torch_python}
    available = {"tf": True, "jax": _has_module(args.jax_python, "jax"), "torch": _has_module(args.torch_python, "torch")}
    skipped = [c for c in cases if not available[CASES[c][0]]]
    cases = [c for c in cases if available[CASES[c][0]]]
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs visible; load average {load:.1f} at the start; {rounds} round(s), each case "
          f"in a fresh process, cases alternated" + (f"; skipped (not installed): {', '.join(skipped)}" if skipped
                                                     else ""), flush=True)

    ceiling_runs, results = [], {(m, c): [] for m in args.mimics for c in cases}
    step_gemms = {m: [] for m in args.mimics}
    details = {}
    for round_ in range(rounds):
        for onednn in ("0", "1"):
            ceiling_runs.append((onednn, _run(sys.executable, ["--worker", "gemm", "--onednn", onednn]).get("flops", 0.0)))
        for mimic in args.mimics:
            steps = max(4, MIMICS[mimic][7] // (2 if args.quick else 1))
            for onednn in ("0", "1"):
                result = _run(sys.executable, ["--worker", "step-gemms", "--mimic", mimic, "--onednn", onednn])
                step_gemms[mimic].append(result.get("wall_s", float("inf")))
            for case in cases:
                runner, _ = CASES[case]
                result = _run(pythons[runner], ["--worker", case, "--mimic", mimic, "--steps", str(steps)])
                results[(mimic, case)].append(result)
                details[(mimic, case)] = result.get("detail", result.get("error"))
                rate = f"{MIMICS[mimic][6] / result['wall_s']:.1f} samples/s" if "wall_s" in result else result["error"]
                print(f"  round {round_ + 1}/{rounds} {mimic} {case}: {rate}", file=sys.stderr, flush=True)
    ceiling = max(flops for _, flops in ceiling_runs)
    by_library = {name: max(f for o, f in ceiling_runs if o == onednn) for name, onednn in (("Eigen", "0"), ("oneDNN", "1"))}
    print(f"float32 GEMM ceiling (2048² tf.matmul, best of {len(ceiling_runs)} runs, oneDNN off and on): "
          f"{ceiling / 1e9:.1f} GFLOP/s (" + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in by_library.items()) + ")",
          flush=True)
    for mimic in args.mimics:
        shape, filters, kernel, bottleneck, hidden, classes, batch, _ = MIMICS[mimic]
        head = f"uint8 32×32×3 → conv {filters} {kernel}×{kernel} → pool" if filters else f"{shape[0]}"
        flops = step_flops(mimic)
        gemm_rate = batch / min(step_gemms[mimic])
        print(f"\n{mimic}: {head} → k {bottleneck} → H {hidden} → {classes}, batch {batch}; "
              f"{flops / 1e6:.0f} MFLOP per training example")
        print(f"  the step's GEMMs alone (its convolution and matmuls, forward and backward, best of "
              f"{len(step_gemms[mimic])} runs, oneDNN off and on): {gemm_rate:.1f} samples/s, "
              f"{gemm_rate * flops / ceiling:.1%} of the ceiling")
        print(f"  {'case':18s} {'samples/s':>10} {'vs keras':>9} {'step ms':>9} {'CPU ms/step':>12} {'CPU vs keras':>13} "
              f"{'of ceiling':>11} {'of GEMMs':>9}   samples/s per round; what ran")
        base = None
        for case in cases:
            runs = [r for r in results[(mimic, case)] if "wall_s" in r]
            if not runs:
                print(f"  {case:18s} failed: {details[(mimic, case)]}")
                continue
            wall = statistics.median(r["wall_s"] for r in runs)
            cpu = statistics.median(r["cpu_s"] for r in runs)
            if case == "keras":
                base = (wall, cpu)
            rate = batch / wall
            vs = f"{base[0] / wall:8.2f}x" if base else f"{'':>9}"
            cvs = f"{cpu / base[1]:12.2f}x" if base else f"{'':>13}"
            per_round = ", ".join(f"{batch / r['wall_s']:.0f}" for r in runs)
            print(f"  {case:18s} {rate:10.1f} {vs} {wall * 1e3:9.1f} {cpu * 1e3:12.1f} {cvs} "
                  f"{rate * flops / ceiling:10.1%} {rate / gemm_rate:8.1%}   {per_round}; {details[(mimic, case)]}")
    print(f"\n(median over rounds of each run's median step; 'vs keras': samples/s ratio, >1 faster; "
          f"'CPU vs keras': CPU time per step ratio, <1 cheaper; load average {os.getloadavg()[0]:.1f} at the end; "
          f"wall {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
