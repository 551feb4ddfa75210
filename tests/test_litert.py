import os

import numpy as np
import pytest

from mimic_keras import litert
from mimic_keras.config import MimicConfig
from mimic_keras.export import export_image_classifier
from mimic_keras.models.mimics import build_mimic
from tests.helpers import toy_images


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    model = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16))
    x, _ = toy_images(64)
    return model, x


@pytest.mark.parametrize("variant, atol", [("float32", 1e-4), ("dynamic", 0.1), ("int8", 0.2)])
def test_each_variant_computes_the_keras_logits(toy, variant, atol):
    model, x = toy
    lite = litert.LiteModel(litert.convert(model, variant, representative=x[:32]))
    assert lite.package == "ai_edge_litert"  # the LiteRT package, not tf.lite's fallback
    assert lite.input_shape == (32, 32, 3) and lite.input_dtype == np.uint8
    expected = model.predict(x, verbose=0)
    got = lite.predict(x, batch_size=20)  # batches of 20, 20, 20, 4: the interpreter is resized
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=atol * np.abs(expected).max())


def test_int8_needs_calibration_data(toy):
    with pytest.raises(ValueError, match="representative"):
        litert.convert(toy[0], "int8")


def test_quantized_files_are_smaller_and_sit_in_the_version_folder(toy, tmp_path):
    model, x = toy
    path = export_image_classifier(model, str(tmp_path), "toy", tflite=litert.VARIANTS, representative=x)
    sizes = {v: os.path.getsize(os.path.join(path, "litert", f"{v}.tflite")) for v in litert.VARIANTS}
    assert sizes["dynamic"] < sizes["float32"] / 2 and sizes["int8"] < sizes["float32"] / 2


def test_flag_is_for_a_loss_of_more_than_one_point():
    assert not litert.flag(0.800, 0.790)
    assert litert.flag(0.800, 0.7899)
    assert not litert.flag(0.800, 0.850)
