"""`runtime.configure`: the TensorFlow settings a CLI chooses before TensorFlow loads."""

import json
import os
import subprocess
import sys

from mimic_keras import runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_configure_turns_onednn_on(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert runtime.configure() == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


def test_an_explicit_setting_is_kept(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert runtime.configure() == {"TF_ENABLE_ONEDNN_OPTS": "0"}


def _fit_env(extra):
    # A fresh process: TensorFlow reads the variable once, when it loads.
    code = ("import json, os, sys; from mimic_keras import fit; fit.main(['config', '--preset', 'cifar10-quick']); "
            "print('ENV', json.dumps({'onednn': os.environ.get('TF_ENABLE_ONEDNN_OPTS'), "
            "'tf_loaded': 'tensorflow' in sys.modules}))")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update(extra, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("ENV "))[4:])


def test_the_fit_cli_sets_it_before_tensorflow_loads():
    assert _fit_env({}) == {"onednn": "1", "tf_loaded": False}
    assert _fit_env({"TF_ENABLE_ONEDNN_OPTS": "0"})["onednn"] == "0"


def test_bfloat16_note_only_where_the_cpu_lacks_it():
    avx2 = {"avx", "avx2", "fma"}
    assert "without native bfloat16" in runtime.bfloat16_note("mixed_bfloat16", has_gpu=False, flags=avx2)
    assert runtime.bfloat16_note("mixed_bfloat16", has_gpu=False, flags=avx2 | {"avx512_bf16"}) is None
    assert runtime.bfloat16_note("mixed_bfloat16", has_gpu=False, flags=avx2 | {"amx_bf16"}) is None
    assert runtime.bfloat16_note("mixed_bfloat16", has_gpu=True, flags=avx2) is None
    assert runtime.bfloat16_note("mixed_float16", has_gpu=False, flags=avx2) is None
    assert runtime.bfloat16_note(None, has_gpu=False, flags=avx2) is None


def test_auto_bfloat16_is_bfloat16_only_where_it_is_native(monkeypatch):
    avx2 = {"avx", "avx2", "fma"}
    assert runtime.resolve_policy("auto_bfloat16", has_gpu=False, flags=avx2) == "float32"
    assert runtime.resolve_policy("auto_bfloat16", has_gpu=False, flags=avx2 | {"avx512_bf16"}) == "mixed_bfloat16"
    assert runtime.resolve_policy("auto_bfloat16", has_gpu=False, flags=avx2 | {"amx_bf16"}) == "mixed_bfloat16"
    assert runtime.resolve_policy("auto_bfloat16", has_gpu=True, flags=avx2) == "mixed_bfloat16"
    # No flags given: this machine's are read; where they cannot be (not Linux), the safe one.
    monkeypatch.setattr(runtime, "cpu_flags", lambda: None)
    assert runtime.resolve_policy("auto_bfloat16", has_gpu=False, flags=None) == "float32"
    monkeypatch.setattr(runtime, "cpu_flags", lambda: avx2 | {"avx512_bf16"})
    assert runtime.resolve_policy("auto_bfloat16", has_gpu=False) == "mixed_bfloat16"
    assert runtime.resolve_policy("mixed_bfloat16", has_gpu=False, flags=avx2) == "mixed_bfloat16"  # asked for
    assert runtime.resolve_policy(None, has_gpu=False, flags=avx2) is None


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert runtime.cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16"}
    assert runtime.cpu_flags(str(tmp_path / "missing")) is None
