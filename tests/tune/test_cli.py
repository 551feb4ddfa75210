import subprocess
import sys


def test_python_dash_m_runs_the_cli_with_the_package_docstring_as_help():
    result = subprocess.run(
        [sys.executable, "-m", "mimic_keras.tune", "--help"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    help_text = result.stdout
    assert help_text.startswith("usage: python -m mimic_keras.tune")
    assert "Hyperparameter search for mimics" in help_text  # the docstring's summary line
    assert "best_preset.json      the best trial's full config" in help_text  # and its body, as the epilog
    assert "--budget-params" in help_text and "{hyperband,bayesian,random}" in help_text
