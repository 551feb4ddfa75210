"""A console a user can read: no TensorFlow C++ log lines, no known-harmless warnings.

A CLI calls `quiet()` first, before anything imports TensorFlow: TensorFlow's C++ side reads
`TF_CPP_MIN_LOG_LEVEL` when it loads, and the lines it would print (CPU instruction notices,
`TFRecordDataset buffer_size` defaults, oneDNN and CUDA notices, absl's "All log messages
before absl::InitializeLog()") are gone for good after that. Progress bars and the CLIs' own
lines go to stdout and stay. `quiet(verbose=True)` shows everything instead.

What is hidden, when not verbose:

* TensorFlow's C++ logs (`TF_CPP_MIN_LOG_LEVEL=3`; set it yourself to choose another level:
  an explicit setting in the environment is kept). Child processes inherit it. The notices
  TensorFlow prints while it loads regardless of that level (oneDNN's) are hidden: `quiet` runs
  TensorFlow's first import with stderr sent to /dev/null for the load alone.
* TensorFlow's and absl's Python logging below ERROR: AutoGraph's "could not transform
  <function> and will run it as-is" and the `tf.function` retracing notices.
* The Keras warnings in `HARMLESS_WARNINGS`, by message; every other warning still shows.

Example:
```python
# At the top of a CLI module, before any import that loads TensorFlow:
import sys

from mimic_keras import console

if __name__ == "__main__":
    console.quiet(verbose="--verbose" in sys.argv[1:])
```
"""

import importlib.util
import logging
import os
import sys
import warnings

# (message regex, category) of warnings a normal run shows that ask nothing of the user.
HARMLESS_WARNINGS = (
    # `Model.fit` passes shuffle=True by default; our tf.data pipelines shuffle themselves.
    (r"`shuffle=True` was passed, but will be ignored since the data `x` was provided as a tf\.data\.Dataset",
     UserWarning),
    # A dataset of unknown cardinality (filtered, interleaved records) ends its first epoch this
    # way; we never pass `steps_per_epoch`, so no epoch is cut short.
    (r"Your input ran out of data; interrupting training", UserWarning),
)

# Python loggers whose records below ERROR are noise on a normal run.
QUIET_LOGGERS = ("tensorflow", "absl")


def command_line(program, argv=None):
    """The command that ran a CLI, as its results files record it: `python <program> <arguments>`.

    `program` is what follows `python` (`-m mimic_keras.factorize`, `experiments/x.py`); the
    arguments are `argv` when the CLI was called from code, else `sys.argv[1:]`; shell-quoted.
    """
    import shlex

    return shlex.join(["python", *program.split(), *(sys.argv[1:] if argv is None else argv)])


def launched_with_dash_m():
    """True while `python -m PACKAGE.MODULE` imports its packages (argv[0] is then `-m`).

    A package's `__init__` can use it to quiet the console only when one of its modules is
    the program, and not when a library or a test imports it.

    Returns:
        A bool.
    """
    return sys.argv[:1] == ["-m"]


def quiet(verbose=False):
    """Silences TensorFlow's C++ logs, TF/absl Python logging below ERROR and harmless warnings.

    Call it before TensorFlow is imported: the C++ log level is read when TensorFlow loads.

    Args:
        verbose: show everything instead: sets `TF_CPP_MIN_LOG_LEVEL=0` and filters nothing.

    Example:
    ```python
    console.quiet()  # then `import tensorflow` prints nothing
    ```
    """
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to quiet
        pass
    else:
        absl_logging.set_verbosity(absl_logging.ERROR)
    for message, category in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    _silence_tensorflow_load()


class _SilentTensorFlowLoad:
    """A `sys.meta_path` finder: the first import of `tensorflow` runs with fd 2 on /dev/null.

    Some notices TensorFlow's C++ side prints while it loads ignore `TF_CPP_MIN_LOG_LEVEL`:
    with `TF_ENABLE_ONEDNN_OPTS=1` (`mimic_keras.runtime`'s default), TF 2.21 prints "oneDNN
    custom operations are on" and absl's "All log messages before absl::InitializeLog()"
    through absl's pre-init logging. They come once, while the package initialises; the hook
    hides stderr for that alone (an import error still raises, after stderr is back), and
    removes itself. Nothing is loaded before something asks for TensorFlow, so a command that
    never needs it (`fit config`, a bad value) stays fast.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        _remove_hook()
        spec = importlib.util.find_spec(name)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            sys.stderr.flush()
            saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
            try:
                load(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)

        spec.loader.exec_module = exec_module
        return spec


def _remove_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _SilentTensorFlowLoad)]


def _silence_tensorflow_load():
    if "tensorflow" not in sys.modules and not any(isinstance(f, _SilentTensorFlowLoad) for f in sys.meta_path):
        sys.meta_path.insert(0, _SilentTensorFlowLoad())
