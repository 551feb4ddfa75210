"""The TensorFlow runtime settings the CLIs choose before TensorFlow loads.

TensorFlow reads these from the environment once, when it loads, so a CLI calls `configure()`
first, like `console.quiet()`. An explicit setting in the environment is always kept.

* `TF_ENABLE_ONEDNN_OPTS=1`: oneDNN kernels for matmuls, convolutions and pooling. TensorFlow
  turns them on by itself only on CPUs with AVX-512 VNNI / BF16 or AMX; on AVX2 it leaves them
  off, and there they trained the mimics faster (the conv mimic's step by a third: the
  bottleneck's input-gradient matmul, `dY · Wᵀ` with a 32,768 × 1,200 W, runs about 4× faster
  than in Eigen). See docs/performance.md (`bench/train_speed.py`). oneDNN sums in another order
  than Eigen: results differ in the last bits, as between any two BLAS libraries.

Example:
```python
from mimic_keras import console, runtime

console.quiet()
runtime.configure()  # then import tensorflow
```
"""

import os

DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "1"}


def configure():
    """Sets the defaults in `DEFAULTS` that the environment does not set already.

    Returns:
        The settings now in force, `{name: value}`.
    """
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in DEFAULTS}
