"""The TensorFlow runtime settings the CLIs choose before TensorFlow loads.

TensorFlow reads these from the environment once, when it loads, so a CLI calls `configure()`
first, like `console.quiet()`. An explicit setting in the environment is always kept.

* `TF_ENABLE_ONEDNN_OPTS=1`: oneDNN kernels for matmuls, convolutions and pooling. TensorFlow
  turns them on by itself only on CPUs with AVX-512 VNNI / BF16 or AMX; on AVX2 it leaves them
  off, and there they trained the mimics faster (the conv mimic's step by a third: the
  bottleneck's input-gradient matmul, `dY · Wᵀ` with a 32,768 × 1,200 W, runs about 4× faster
  than in Eigen). See docs/performance.md (`bench/train_speed.py`). oneDNN sums in another order
  than Eigen: results differ in the last bits, as between any two BLAS libraries.

bfloat16 is fast on CPUs with native support (AVX-512 BF16, AMX) and emulated elsewhere:
`bfloat16_note` says so when a run asks for a bfloat16 policy on a CPU without it.

Example:
```python
from mimic_keras import console, runtime

runtime.configure()
console.quiet()  # then import tensorflow
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


NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags (Linux), or None where they cannot be read."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def bfloat16_note(policy, has_gpu, flags=None):
    """A line for the user when `policy` computes in bfloat16 on a CPU that only emulates it.

    Args:
        policy: the Keras dtype policy name (`mixed_precision`), or None.
        has_gpu: whether the run trains on GPUs (then the CPU's flags do not matter).
        flags: the CPU's flags (default: `cpu_flags()`).

    Returns:
        The note, or None when there is nothing to say (or the flags are unknown).
    """
    if not policy or "bfloat16" not in policy or has_gpu:
        return None
    flags = cpu_flags() if flags is None else flags
    if flags is None or _native_bfloat16(flags):
        return None
    return (f"note: mixed_precision={policy} on a CPU without native bfloat16 ({' or '.join(NATIVE_BFLOAT16_FLAGS)} "
            "absent): it is emulated here; compare with mixed_precision=float32 (bench/precision_xla.py)")


AUTO_BFLOAT16 = "auto_bfloat16"


def resolve_policy(policy, has_gpu, flags=None):
    """The Keras dtype policy to set for `mixed_precision=policy`.

    `auto_bfloat16` is `mixed_bfloat16` where bfloat16 is native (a GPU, or a CPU with one of
    `NATIVE_BFLOAT16_FLAGS`) and `float32` elsewhere, where emulated bfloat16 is slower
    (measured >10× on the conv teacher on an AVX2 CPU). Other names are returned as given.
    """
    if policy != AUTO_BFLOAT16:
        return policy
    flags = cpu_flags() if flags is None else flags
    native = has_gpu or (flags is not None and _native_bfloat16(flags))
    return "mixed_bfloat16" if native else "float32"


def _native_bfloat16(flags):
    return any(flag in flags for flag in NATIVE_BFLOAT16_FLAGS)
