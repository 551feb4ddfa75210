import importlib.util
import os

import pytest

spec = importlib.util.spec_from_file_location(
    "bench_groups_speed", os.path.join(os.path.dirname(__file__), "..", "..", "bench", "groups_speed.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_variants_are_the_preset_with_the_sweeps_overrides():
    configs = bench.variant_configs("cifar10-cpu", "experiments/sweeps/groups.json", ["g1_h2000", "g4_h8000"])
    assert list(configs) == ["g1_h2000", "g4_h8000"]
    assert (configs["g4_h8000"].mimic.groups, configs["g4_h8000"].mimic.hidden) == (4, 8000)
    assert (configs["g1_h2000"].mimic.groups, configs["g1_h2000"].mimic.hidden) == (1, 2000)
    assert configs["g4_h8000"].mimic.bottleneck == 256  # the preset's, untouched
    assert configs["g4_h8000"].mimic_train.epochs == 20  # the sweep's common override


def test_every_case_names_variants_its_sweep_has():
    for preset, sweep, names, baseline in bench.CASES.values():
        configs = bench.variant_configs(preset, sweep, names)
        assert baseline in configs and len(configs) > 1


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="no variant g3"):
        bench.variant_configs("cifar10-cpu", "experiments/sweeps/groups.json", ["g3"])


def test_alternation_keeps_each_time_with_its_model():
    calls = []

    def timer(name, seconds):
        def run():
            calls.append(name)
            return seconds
        return run

    pairs = bench.alternate(timer("a", 1.0), timer("b", 3.0), 4)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert pairs == [(1.0, 3.0)] * 4
    assert "b/a 3.000 (95% 3.000–3.000)" in bench.ratio_line("train", "a", "b", pairs)
