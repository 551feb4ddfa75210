"""The console stays readable: no TensorFlow C++ logs or known-harmless warnings unless verbose."""

import os
import re
import subprocess
import sys

from mimic_keras import console

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Lines TensorFlow's C++ side (and absl's) print: `I0000 00:00:...`, `W0000 ...`, CPU
# instruction and oneDNN notices, CUDA probing.
TF_NOISE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d|absl::InitializeLog|oneDNN custom operations|This TensorFlow binary is optimized"
    r"|cuda|rebuild TensorFlow with the appropriate compiler flags",
    re.MULTILINE,
)

# A tiny fit on a tf.data pipeline of unknown cardinality, the case that warns on a normal run.
FIT = """
import sys
from mimic_keras import console
console.quiet(verbose=sys.argv[1] == "verbose")
import keras
import numpy as np
import tensorflow as tf
x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
ds = tf.data.Dataset.from_tensor_slices((x, x[:, :2])).filter(lambda a, b: a[0] > -10.0).batch(16)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
model.compile(optimizer="sgd", loss="mse")
model.fit(ds, epochs=2, verbose=2)
"""


def _run(args, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
    env.update(extra_env or {})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def test_tune_help_prints_no_tensorflow_logs_unless_verbose():
    quiet = _run(["-m", "mimic_keras.tune", "--help"])
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.startswith("usage: python -m mimic_keras.tune") and "--verbose" in quiet.stdout
    assert not TF_NOISE.search(quiet.stderr), quiet.stderr
    verbose = _run(["-m", "mimic_keras.tune", "--help", "--verbose"])
    assert verbose.returncode == 0, verbose.stderr
    bare = _run(["-c", "import tensorflow"], {"TF_CPP_MIN_LOG_LEVEL": "0"})
    # What TensorFlow prints on import on this machine (if anything), --verbose shows too.
    assert bool(TF_NOISE.search(verbose.stderr)) == bool(TF_NOISE.search(bare.stderr)), (verbose.stderr, bare.stderr)


def test_pipeline_job_help_prints_no_tensorflow_logs():
    result = _run(["-m", "pipelines.label_timit_with_teacher", "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
    assert not TF_NOISE.search(result.stderr), result.stderr


def test_a_quiet_fit_keeps_its_progress_lines_and_drops_the_noise():
    quiet = _run(["-c", FIT, "quiet"])
    assert quiet.returncode == 0, quiet.stderr
    assert "Epoch 2/2" in quiet.stdout and "loss:" in quiet.stdout
    assert not TF_NOISE.search(quiet.stderr), quiet.stderr
    for message, _ in console.HARMLESS_WARNINGS:
        assert not re.search(message, quiet.stderr), quiet.stderr
    verbose = _run(["-c", FIT, "verbose"])
    assert verbose.returncode == 0, verbose.stderr
    assert re.search(console.HARMLESS_WARNINGS[1][0], verbose.stderr), verbose.stderr


def test_quiet_filters_only_the_known_warnings_and_keeps_an_explicit_log_level():
    code = (
        "import logging, os, warnings\n"
        "from mimic_keras import console\n"
        "console.quiet()\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])\n"
        "warnings.warn('Your input ran out of data; interrupting training. Make sure...', UserWarning)\n"
        "warnings.warn('something the user must see', UserWarning)\n"
        "logging.getLogger('tensorflow').warning('retracing notice')\n"
        "logging.getLogger('tensorflow').error('a real error')\n"
    )
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3"
    assert "something the user must see" in result.stderr and "a real error" in result.stderr
    assert "ran out of data" not in result.stderr and "retracing notice" not in result.stderr
    assert _run(["-c", code], {"TF_CPP_MIN_LOG_LEVEL": "1"}).stdout.strip() == "1"


def test_only_a_dash_m_launch_counts():
    assert not console.launched_with_dash_m()  # pytest imported us


def test_tensorflow_s_load_notices_are_hidden_and_errors_still_show():
    # With oneDNN on, TF 2.21 prints its notice at load whatever TF_CPP_MIN_LOG_LEVEL says.
    code = ("import sys; from mimic_keras import console; console.quiet(); "
            "loaded = 'tensorflow' in sys.modules; import tensorflow; "
            "print('lazy' if not loaded else 'eager'); print('after the load', file=sys.stderr)")
    result = _run(["-c", code], {"TF_ENABLE_ONEDNN_OPTS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lazy"  # nothing loaded before it was asked for
    assert not TF_NOISE.search(result.stderr), result.stderr
    assert result.stderr.strip() == "after the load"  # stderr is back after the load
    shown = _run(["-c", "import tensorflow"], {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert TF_NOISE.search(shown.stderr), "the notice no longer shows without quiet: this test checks nothing"


def test_the_command_line_a_results_file_records(monkeypatch):
    assert console.command_line("-m mimic_keras.factorize", ["m.keras", "--out", "a dir"]) == \
        "python -m mimic_keras.factorize m.keras --out 'a dir'"  # quoted: it reruns as written
    monkeypatch.setattr(sys, "argv", ["score_checkpoints.py", "runs/x", "--json", "x.json"])
    assert console.command_line("experiments/score_checkpoints.py") == \
        "python experiments/score_checkpoints.py runs/x --json x.json"  # from a shell: sys.argv
    assert console.command_line("experiments/x.py", []) == "python experiments/x.py"
