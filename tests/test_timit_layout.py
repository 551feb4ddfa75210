import subprocess
import sys

import numpy as np

from mimic_keras import timit_layout
from mimic_keras.data import features, phones, records, timit


def test_the_layout_numbers():
    assert timit_layout.NUM_STATES == 183 == len(phones.PHONES) * 3
    assert timit_layout.FEATURE_DIM == 123 == 3 * (40 + 1)
    assert timit_layout.CONTEXT == 7
    assert timit_layout.INPUT_DIM == timit_layout.input_dim() == 1845 == 15 * 123
    assert timit_layout.input_dim(2) == 5 * 123


def test_data_modules_use_the_layout():
    assert features.compute_features(np.zeros(16000, np.float32)).shape[-1] == timit_layout.FEATURE_DIM
    spec = records.timit_sequence_features(with_logits=True)
    assert spec["features"].shape == [timit_layout.FEATURE_DIM] and spec["logits"].shape == [timit_layout.NUM_STATES]
    assert (timit.CONTEXT, timit.INPUT_DIM, phones.NUM_STATES) == (7, 1845, 183)


def test_layout_loads_no_tensorflow_and_models_load_nothing_from_data():
    code = (
        "import sys\n"
        "import mimic_keras.timit_layout\n"
        "assert 'tensorflow' not in sys.modules\n"
        "from mimic_keras.models import convnet, ensemble, layers, mimics, speech_teachers, summary\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('mimic_keras.data'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
