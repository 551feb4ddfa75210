"""TIMIT's layout, defined once: HMM states, features per frame, context windows.

The numbers every TIMIT module shares, with no TensorFlow import, so that `mimic_keras.data`
(which writes and reads them) and `mimic_keras.models` (which takes them as tensor shapes)
both import them from here and `models/` needs nothing from `data/`.

* Targets: each of the 61 phones has 3 left-to-right HMM states, `NUM_STATES` = 183 classes
  (state id = 3 × phone index + state; the phone list is `mimic_keras.data.phones`).
* Features per 10 ms frame (`mimic_keras.data.features`): 40 log mel energies and the log
  energy (`NUM_STATIC` = 41), then their Δ and ΔΔ, `FEATURE_DIM` = 3 × 41 = 123 values laid out
  as `[40 mel, energy, 40 Δmel, Δenergy, 40 ΔΔmel, ΔΔenergy]`.
* Inputs: a frame is classified from its ±`context` frames (`CONTEXT` = 7 by default),
  flattened time-major to `input_dim(context)` = (2 context + 1) × 123 values (`INPUT_DIM` =
  1845): frame t-c's 123 values first.

Example:
```python
from mimic_keras import timit_layout

timit_layout.input_dim(5)  # 1353 values for ±5 frames
keras.Input(shape=(timit_layout.INPUT_DIM,))
```
"""

NUM_PHONES = 61
STATES_PER_PHONE = 3
NUM_STATES = NUM_PHONES * STATES_PER_PHONE  # 183

NUM_MEL = 40  # mel bands
NUM_STATIC = NUM_MEL + 1  # the mel bands and the log energy
NUM_ORDERS = 3  # static, Δ, ΔΔ
FEATURE_DIM = NUM_ORDERS * NUM_STATIC  # 123

CONTEXT = 7  # frames on each side of the classified one


def input_dim(context=CONTEXT):
    """Values in one context window: `(2 context + 1) × FEATURE_DIM`.

    Args:
        context: frames on each side of the centre frame.

    Returns:
        An int, 1845 for the default ±7 frames.
    """
    return (2 * context + 1) * FEATURE_DIM


INPUT_DIM = input_dim()  # 1845
