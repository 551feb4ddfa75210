import json
import zipfile

import keras
import numpy as np
import pytest

from mimic_keras import config
from mimic_keras.config import MimicConfig, TeacherConfig
from mimic_keras.models import speech_teachers
from mimic_keras.models.ensemble import build_ensemble
from mimic_keras.models.mimics import build_mimic, mimic_param_count
from mimic_keras.models.summary import hidden_units
from mimic_keras.timit_layout import CONTEXT, FEATURE_DIM, INPUT_DIM, NUM_STATES
from tests.helpers import run_serialization_test

TINY_DNN = TeacherConfig(kind="dnn", dense_units=(16, 8), dropout=0.1)
TINY_CNN = TeacherConfig(kind="cnn", conv_filters=(4, 6), kernel_size=5, freq_pool=2, dense_units=(16,))


def _windows(n, seed=0, context=CONTEXT):
    return np.random.default_rng(seed).normal(size=(n, (2 * context + 1) * FEATURE_DIM)).astype(np.float32)


def test_paper_dnn_shape_and_params():
    cfg = config.get_preset("timit-paper").teacher
    dnn = speech_teachers.build_speech_teacher(cfg, kind="dnn")
    assert dnn(_windows(2)).shape == (2, NUM_STATES)
    # 1845 → 3 × 2000 ReLU → 183: the paper's 12M.
    expected = 1846 * 2000 + 2 * 2001 * 2000 + 2001 * 183
    assert dnn.count_params() == speech_teachers.speech_teacher_param_count(cfg, kind="dnn") == expected == 12_062_183
    assert hidden_units(dnn) == 6000


def test_paper_cnn_shape_and_params():
    cfg = config.get_preset("timit-paper").teacher
    cnn = speech_teachers.build_speech_teacher(cfg, kind="cnn")
    assert cnn(_windows(2)).shape == (2, NUM_STATES)
    # 40 bands × 45 channels (15 frames × static/Δ/ΔΔ); 200 filters of 8 bands → 33 positions,
    # pooled by 3 → 11 × 200, plus the 45 energy terms → 3 × 2000 ReLU → 183: about 13M.
    conv = (8 * 45 + 1) * 200
    expected = conv + (11 * 200 + 45 + 1) * 2000 + 2 * 2001 * 2000 + 2001 * 183
    assert cnn.count_params() == speech_teachers.speech_teacher_param_count(cfg, kind="cnn") == expected
    assert 12.5e6 < expected < 13.5e6
    assert cnn.get_layer("conv1").output.shape[1:] == (33, 200)
    assert hidden_units(cnn) == 33 * 200 + 6000


@pytest.mark.parametrize("cfg", [TINY_DNN, TINY_CNN, TeacherConfig(kind="cnn", conv_filters=(3,), kernel_size=3,
                                                                   freq_pool=4, dense_units=(), weight_decay=1e-4)])
def test_teacher_variants_match_the_formula(cfg):
    for context in (7, 2):
        model = speech_teachers.build_speech_teacher(cfg, num_classes=11, context=context)
        assert model.count_params() == speech_teachers.speech_teacher_param_count(cfg, 11, context)
        assert model(_windows(3, context=context)).shape == (3, 11)


def test_mel_maps_layout():
    # Window value = 1000 × frame + 100 × order (static, Δ, ΔΔ) + column within the order (0-40).
    frame, order, col = np.meshgrid(np.arange(15), np.arange(3), np.arange(41), indexing="ij")
    window = (1000 * frame + 100 * order + col).reshape(1, INPUT_DIM).astype(np.float32)
    maps, energy = speech_teachers.MelMaps(7)(window)
    maps, energy = np.asarray(maps), np.asarray(energy)
    assert maps.shape == (1, 40, 45) and energy.shape == (1, 45)
    # Band b's channels are (frame, order) pairs, frame-major; band 40 (energy) is not a band.
    assert maps[0, 5, 3 * 2 + 1] == 1000 * 2 + 100 * 1 + 5
    assert maps[0, 39, 44] == 1000 * 14 + 100 * 2 + 39
    np.testing.assert_array_equal(energy[0], (1000 * frame + 100 * order + 40)[:, :, 0].reshape(-1))


def test_cnn_that_uses_up_the_bands_is_refused():
    cfg = TeacherConfig(kind="cnn", conv_filters=(8, 8, 8), kernel_size=8, freq_pool=3)
    with pytest.raises(ValueError, match="mel bands are used up"):
        speech_teachers.build_cnn_teacher(cfg)
    with pytest.raises(ValueError, match="unknown TIMIT teacher kind"):
        speech_teachers.build_speech_teacher(TeacherConfig(kind="convnet"))


def test_kinds_cycle_over_an_ensemble():
    cfg = TeacherConfig(kind="dnn, cnn")
    assert [cfg.kind_of(i) for i in range(4)] == ["dnn", "cnn", "dnn", "cnn"]
    assert TeacherConfig().kind_of(3) == "convnet"  # CIFAR's default is unchanged


def test_mixed_ensemble_averages_a_dnn_and_a_cnn():
    dnn, cnn = (speech_teachers.build_speech_teacher(c, name=n) for c, n in ((TINY_DNN, "dnn"), (TINY_CNN, "cnn")))
    x = _windows(4)
    ensemble = build_ensemble([dnn, cnn])
    np.testing.assert_allclose(ensemble(x), (np.asarray(dnn(x)) + np.asarray(cnn(x))) / 2, atol=1e-5)
    assert hidden_units(ensemble) == hidden_units(dnn) + hidden_units(cnn)


def test_shallow_net_on_context_windows():
    cfg = config.get_preset("timit-paper").mimic
    assert (cfg.conv_filters, cfg.bottleneck, cfg.hidden) == (0, 250, 8000)
    # 1845 → k=250 linear, no bias → 8000 ReLU → 183.
    expected = 1845 * 250 + 251 * 8000 + 8001 * 183
    assert mimic_param_count(cfg, NUM_STATES, (INPUT_DIM,)) == expected
    small = MimicConfig(conv_filters=0, bottleneck=8, hidden=32)
    mimic = build_mimic(small, NUM_STATES, input_shape=(INPUT_DIM,))
    assert mimic.count_params() == mimic_param_count(small, NUM_STATES, (INPUT_DIM,)) == 1845 * 8 + 9 * 32 + 33 * 183
    assert hidden_units(mimic) == 32  # the linear bottleneck is not a hidden layer


def test_speech_models_round_trip(tmp_path):
    x = _windows(3)
    run_serialization_test(speech_teachers.build_speech_teacher(TINY_DNN), x, tmp_path / "dnn")
    run_serialization_test(speech_teachers.build_speech_teacher(TINY_CNN), x, tmp_path / "cnn")


def test_timit_presets_round_trip():
    for name in ("timit-quick", "timit-paper"):
        cfg = config.get_preset(name)
        assert cfg.name == name and cfg.data.dataset == "timit" and cfg.num_classes == NUM_STATES
        assert cfg.mimic.conv_filters == 0 and not cfg.mimic_train.augment
        assert config.from_dict(json.loads(json.dumps(config.to_dict(cfg)))) == cfg


def test_cnn_teacher_saved_before_the_rename_still_loads(tmp_path):
    # A `.keras` file written when MelMaps lived in `mimic_keras.models.speech`: its config
    # names that module, but loading goes by the registered name, which did not change.
    model = speech_teachers.build_speech_teacher(TINY_CNN)
    new, old = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(new)
    with zipfile.ZipFile(new) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                text = data.decode()
                assert '"registered_name": "mimic_keras>MelMaps"' in text
                data = text.replace("mimic_keras.models.speech_teachers", "mimic_keras.models.speech").encode()
                assert json.loads(data)
            dst.writestr(item, data)
    x = _windows(2)
    restored = keras.saving.load_model(old)
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(model(x)), atol=1e-6)
