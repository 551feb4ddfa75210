"""A console a user can read: no TensorFlow C++ log lines, no known-harmless warnings.

A CLI calls `quiet()` first, before anything imports TensorFlow: TensorFlow's C++ side reads
`TF_CPP_MIN_LOG_LEVEL` when it loads, and the lines it would print (CPU instruction notices,
`TFRecordDataset buffer_size` defaults, oneDNN and CUDA notices, absl's "All log messages
before absl::InitializeLog()") are gone for good after that. Progress bars and the CLIs' own
lines go to stdout and stay. `quiet(verbose=True)` shows everything instead.

What is hidden, when not verbose:

* TensorFlow's C++ logs (`TF_CPP_MIN_LOG_LEVEL=3`; set it yourself to choose another level:
  an explicit setting in the environment is kept). Child processes inherit it.
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
