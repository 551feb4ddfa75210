"""What `deterministic=true` costs: mimic training speed with and without TensorFlow's op determinism.

    python bench/determinism.py [--steps 30] [--rounds 3]

Op determinism is a process-wide switch, so each measurement runs in its own process: the
quick preset's CIFAR-10 mimic (conv 32, k 64, H 512, batch 128) trained with the `Distiller` on
cached logits held in memory, `--steps` steps after one warm-up epoch. The two settings
alternate, `--rounds` times; printed: the median steps/s of each and their ratio (measured in
this one run). Also reported: whether the two deterministic runs ended with identical weights.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _child(deterministic, steps):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    from mimic_keras.config import get_preset
    from mimic_keras.distiller import Distiller
    from mimic_keras.models.mimics import build_mimic

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    cfg = get_preset("cifar10-quick")
    batch = 128
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (steps * batch, 32, 32, 3), dtype=np.uint8)
    y = {"logits": rng.normal(size=(steps * batch, 10)).astype("float32"),
         "label": rng.integers(0, 10, steps * batch)}
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(4096, seed=0).batch(batch)
    distiller = Distiller(build_mimic(cfg.mimic, 10))
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3))
    distiller.fit(ds.take(3), epochs=1, verbose=0)  # trace
    started = time.perf_counter()
    distiller.fit(ds, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    checksum = float(sum(np.abs(w).sum() for w in distiller.student.get_weights()))
    print(json.dumps({"steps_per_second": steps / seconds, "checksum": checksum}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child == "on", args.steps)
    results = {"off": [], "on": []}
    for _ in range(args.rounds):
        for setting in ("off", "on"):
            out = subprocess.run([sys.executable, __file__, "--child", setting, "--steps", str(args.steps)],
                                 capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
            results[setting].append(json.loads(out.stdout.strip().splitlines()[-1]))
    off = statistics.median(r["steps_per_second"] for r in results["off"])
    on = statistics.median(r["steps_per_second"] for r in results["on"])
    same = len({r["checksum"] for r in results["on"]}) == 1
    print(f"op determinism off: {off:.2f} steps/s   on: {on:.2f} steps/s   on/off: {on / off:.2f} "
          f"({args.rounds} alternating rounds, {args.steps} steps of batch 128, median)")
    print(f"deterministic runs identical: {same}; non-deterministic checksums: "
          f"{sorted(round(r['checksum'], 4) for r in results['off'])}")


if __name__ == "__main__":
    sys.exit(main())
