import importlib.util
import os

import pytest

from mimic_keras.config import MimicConfig
from mimic_keras.models.mimics import build_mimic

spec = importlib.util.spec_from_file_location(
    "bench_inference", os.path.join(os.path.dirname(__file__), "..", "..", "bench", "inference.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_flops_count_every_conv_and_dense_multiply_add():
    model = build_mimic(MimicConfig(conv_filters=4, conv_kernel=3, bottleneck=8, hidden=16, pool_size=2))
    conv = 32 * 32 * (3 * 3 * 3 * 4)  # a 'same' 3×3 conv at every pixel
    flat = int(model.get_layer("flatten").output.shape[-1])
    assert bench.flops_per_example(model) == 2 * (conv + flat * 8 + 8 * 16 + 16 * 10)


def test_ratios_are_mimic_over_teacher_in_each_format():
    row = {"parameters": 100, "flops": 1000, "bytes": 10, "test_accuracy": 0.8, "p50_ms": 2.0, "p99_ms": 3.0,
           "throughput": 100.0}
    rows = [{**row, "model": "teacher_0", "format": "Keras"},
            {**row, "model": "mimic", "format": "Keras", "parameters": 10, "flops": 250, "test_accuracy": 0.76,
             "p50_ms": 0.5, "throughput": 400.0}]
    table = bench.markdown(rows, 200, 256)
    assert "| Keras | 0.100 | 0.250 | 1.000 | 0.250 | 0.250 | 0.950 |" in table


def test_flops_count_a_grouped_hidden_layer_by_its_blocks():
    dense = build_mimic(MimicConfig(conv_filters=0, bottleneck=8, hidden=16), num_classes=10, input_shape=(20,))
    grouped = build_mimic(MimicConfig(conv_filters=0, bottleneck=8, hidden=16, groups=4), num_classes=10,
                          input_shape=(20,))
    assert bench.flops_per_example(dense) == 2 * (20 * 8 + 8 * 16 + 16 * 10)
    assert bench.flops_per_example(grouped) == 2 * (20 * 8 + 8 * 16 // 4 + 16 * 10)
