"""Two training steps timed against each other in one process, alternating: is A's step cheaper than B's?

    python bench/step_ab.py [--mimics cifar timit] [--pairs keras+tuned:distiller ...] [--calls 40]

`bench/train_speed.py` times each case in a fresh process; from process to process the same
case moves by ±10% on this shared machine, more than the differences it is asked to resolve
(the Distiller within 3% of the bare model). Here both models of a pair live in one process,
share the threads and the data, and their compiled training steps (`make_train_function`, what
`fit` calls) run alternately A B B A …, so load drift hits both alike. Per pair: the median
wall and CPU time of a step of each, the ratio B/A of the medians, and a 95% bootstrap
interval of that ratio (pairs of neighbouring calls resampled).

Models (the shapes and optimizer of `bench/train_speed.py`):

    keras+tuned   bare `build_mimic` model, MSE, `FusedSGD`, the project's runtime settings
    distiller     the project's default path (`tasks.training.compile_distiller`)
    keras         bare model with Keras's own SGD (what a plain Keras user gets)
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_speed import LR, MIMICS, MOMENTUM, _data, _experiment_config  # noqa: E402

MODELS = ("keras", "keras+tuned", "distiller")


def _build(name, mimic, via="step"):
    import keras
    import tensorflow as tf

    from mimic_keras import optimizers
    from mimic_keras.models.mimics import build_mimic
    from mimic_keras.tasks.training import compile_distiller

    keras.utils.set_random_seed(0)
    cfg = _experiment_config(mimic, {})
    shape, batch = MIMICS[mimic][0], MIMICS[mimic][6]
    x, z, y = _data(mimic, batch * 8)
    student = build_mimic(cfg.mimic, cfg.num_classes, input_shape=shape)
    if name == "distiller":
        model = compile_distiller(cfg, student, steps_per_epoch=1000)
        data = tf.data.Dataset.from_tensor_slices((x, {"logits": z, "label": y}))
    else:
        opt = optimizers.FusedSGD if name == "keras+tuned" else keras.optimizers.SGD
        model = student
        model.compile(optimizer=opt(LR, momentum=MOMENTUM, nesterov=True), loss="mse")
        data = tf.data.Dataset.from_tensor_slices((x, z))
    data = data.repeat().batch(batch, drop_remainder=True).prefetch(2)
    if via == "fit":
        return _fit_runner(model, data)
    iterator = iter(data)
    model.make_train_function()
    step = model.train_function

    def run():
        start, cpu = time.perf_counter(), time.process_time()
        logs = step(iterator)
        logs = logs.get_value() if hasattr(logs, "get_value") else logs
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, logs)
        return time.perf_counter() - start, time.process_time() - cpu

    for _ in range(3):  # trace, then warm up
        run()
    return run


def _fit_runner(model, data, steps=6):
    """`model.fit` for `steps` steps per call (what `fit` adds: callbacks, logs); the median step of each call."""
    import keras

    marks = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append((time.perf_counter(), time.process_time()))

    def run():
        marks.clear()
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Clock()])
        return (statistics.median(b[0] - a[0] for a, b in zip(marks, marks[1:])),
                statistics.median(b[1] - a[1] for a, b in zip(marks, marks[1:])))

    run()  # trace, warm up
    return run


def _interval(pairs, draws=2000, seed=0):
    import random

    rng = random.Random(seed)
    ratios = []
    for _ in range(draws):
        sample = [rng.choice(pairs) for _ in pairs]
        ratios.append(statistics.median(b for _, b in sample) / statistics.median(a for a, _ in sample))
    ratios.sort()
    return ratios[int(0.025 * draws)], ratios[int(0.975 * draws) - 1]


def alternate(a, b, calls):
    """[(a's result, b's result)] of `calls` alternations, A B B A …: neighbours share the load drift."""
    pairs = []
    for i in range(calls):
        if i % 2 == 0:
            ra, rb = a(), b()
        else:
            rb, ra = b(), a()
        pairs.append((ra, rb))
    return pairs


def compare(mimic, a_name, b_name, calls, via="step"):
    a, b = _build(a_name, mimic, via), _build(b_name, mimic, via)
    results = alternate(a, b, calls)
    walls = [(ra[0], rb[0]) for ra, rb in results]
    cpus = [(ra[1], rb[1]) for ra, rb in results]
    batch = MIMICS[mimic][6]
    out = []
    for label, pairs in (("wall", walls), ("CPU", cpus)):
        ma, mb = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        lo, hi = _interval(pairs)
        out.append(f"    {label:4s} ms/step  {a_name} {ma * 1e3:8.1f}   {b_name} {mb * 1e3:8.1f}   "
                   f"{b_name}/{a_name} {mb / ma:.3f} (95% {lo:.3f}–{hi:.3f})")
    rate_a = batch / statistics.median(p[0] for p in walls)
    rate_b = batch / statistics.median(p[1] for p in walls)
    out.append(f"    samples/s  {a_name} {rate_a:.1f}   {b_name} {rate_b:.1f}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mimics", nargs="+", choices=sorted(MIMICS), default=list(MIMICS))
    parser.add_argument("--pairs", nargs="+", default=["keras+tuned:distiller"],
                        help=f"A:B pairs of {', '.join(MODELS)}")
    parser.add_argument("--via", choices=("step", "fit"), default="step",
                        help="time the compiled step alone, or `model.fit` calls of 6 steps (their median step)")
    parser.add_argument("--calls", type=int, default=None, help="alternations per pair (default: 40 timit, 16 cifar)")
    args = parser.parse_args(argv)
    pairs = [tuple(p.split(":")) for p in args.pairs]
    for pair in pairs:
        if len(pair) != 2 or not set(pair) <= set(MODELS):
            parser.error(f"a pair is A:B of {', '.join(MODELS)}, got {':'.join(pair)}")

    from mimic_keras import console, runtime

    runtime.configure()
    console.quiet()
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs visible; load average {os.getloadavg()[0]:.1f} at the start; "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}", flush=True)
    for mimic in args.mimics:
        calls = args.calls or (40 if mimic == "timit" else 16)
        for a_name, b_name in pairs:
            print(f"{mimic}: {a_name} vs {b_name}, {calls} alternations ({args.via}), one process", flush=True)
            print("\n".join(compare(mimic, a_name, b_name, calls, args.via)), flush=True)
    print(f"(load average {os.getloadavg()[0]:.1f} at the end; wall {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
