import numpy as np
import pytest

from mimic_keras import config
from mimic_keras.config import MimicConfig, TeacherConfig
from mimic_keras.models import speech
from mimic_keras.models.ensemble import build_ensemble
from mimic_keras.models.mimics import build_mimic, mimic_param_count
from tests.helpers import run_serialization_test

TINY_DNN = TeacherConfig(kind="dnn", dense_units=(16, 8), dropout=0.1)
TINY_CNN = TeacherConfig(kind="cnn", conv_filters=(4, 6), kernel_size=5, freq_pool=2, dense_units=(16,))


def _windows(n, seed=0, context=7):
    return np.random.default_rng(seed).normal(size=(n, (2 * context + 1) * 123)).astype(np.float32)


def test_paper_dnn_shape_and_params():
    cfg = config.get_preset("timit-paper").teacher
    dnn = speech.build_speech_teacher(cfg, kind="dnn")
    assert dnn(_windows(2)).shape == (2, 183)
    # 1845 → 3 × 2000 ReLU → 183: the paper's 12M.
    expected = 1846 * 2000 + 2 * 2001 * 2000 + 2001 * 183
    assert dnn.count_params() == speech.speech_teacher_param_count(cfg, kind="dnn") == expected == 12_062_183
    assert speech.hidden_units(dnn) == 6000


def test_paper_cnn_shape_and_params():
    cfg = config.get_preset("timit-paper").teacher
    cnn = speech.build_speech_teacher(cfg, kind="cnn")
    assert cnn(_windows(2)).shape == (2, 183)
    # 40 bands × 45 channels (15 frames × static/Δ/ΔΔ); 200 filters of 8 bands → 33 positions,
    # pooled by 3 → 11 × 200, plus the 45 energy terms → 3 × 2000 ReLU → 183: about 13M.
    conv = (8 * 45 + 1) * 200
    expected = conv + (11 * 200 + 45 + 1) * 2000 + 2 * 2001 * 2000 + 2001 * 183
    assert cnn.count_params() == speech.speech_teacher_param_count(cfg, kind="cnn") == expected
    assert 12.5e6 < expected < 13.5e6
    assert cnn.get_layer("conv1").output.shape[1:] == (33, 200)
    assert speech.hidden_units(cnn) == 33 * 200 + 6000


@pytest.mark.parametrize("cfg", [TINY_DNN, TINY_CNN, TeacherConfig(kind="cnn", conv_filters=(3,), kernel_size=3,
                                                                   freq_pool=4, dense_units=(), weight_decay=1e-4)])
def test_teacher_variants_match_the_formula(cfg):
    for context in (7, 2):
        model = speech.build_speech_teacher(cfg, num_classes=11, context=context)
        assert model.count_params() == speech.speech_teacher_param_count(cfg, 11, context)
        assert model(_windows(3, context=context)).shape == (3, 11)


def test_mel_maps_layout():
    # Window value = 1000 × frame + 100 × order (static, Δ, ΔΔ) + column within the order (0-40).
    frame, order, col = np.meshgrid(np.arange(15), np.arange(3), np.arange(41), indexing="ij")
    window = (1000 * frame + 100 * order + col).reshape(1, 1845).astype(np.float32)
    maps, energy = speech.MelMaps(7)(window)
    maps, energy = np.asarray(maps), np.asarray(energy)
    assert maps.shape == (1, 40, 45) and energy.shape == (1, 45)
    # Band b's channels are (frame, order) pairs, frame-major; band 40 (energy) is not a band.
    assert maps[0, 5, 3 * 2 + 1] == 1000 * 2 + 100 * 1 + 5
    assert maps[0, 39, 44] == 1000 * 14 + 100 * 2 + 39
    np.testing.assert_array_equal(energy[0], (1000 * frame + 100 * order + 40)[:, :, 0].reshape(-1))


def test_cnn_that_uses_up_the_bands_is_refused():
    cfg = TeacherConfig(kind="cnn", conv_filters=(8, 8, 8), kernel_size=8, freq_pool=3)
    with pytest.raises(ValueError, match="mel bands are used up"):
        speech.build_cnn_teacher(cfg)
    with pytest.raises(ValueError, match="unknown TIMIT teacher kind"):
        speech.build_speech_teacher(TeacherConfig(kind="convnet"))


def test_kinds_cycle_over_an_ensemble():
    cfg = TeacherConfig(kind="dnn, cnn")
    assert [cfg.kind_of(i) for i in range(4)] == ["dnn", "cnn", "dnn", "cnn"]
    assert TeacherConfig().kind_of(3) == "convnet"  # CIFAR's default is unchanged


def test_mixed_ensemble_averages_a_dnn_and_a_cnn():
    dnn, cnn = (speech.build_speech_teacher(c, name=n) for c, n in ((TINY_DNN, "dnn"), (TINY_CNN, "cnn")))
    x = _windows(4)
    ensemble = build_ensemble([dnn, cnn])
    np.testing.assert_allclose(ensemble(x), (np.asarray(dnn(x)) + np.asarray(cnn(x))) / 2, atol=1e-5)
    assert speech.hidden_units(ensemble) == speech.hidden_units(dnn) + speech.hidden_units(cnn)


def test_shallow_net_on_context_windows():
    cfg = config.get_preset("timit-paper").mimic
    assert (cfg.conv_filters, cfg.bottleneck, cfg.hidden) == (0, 250, 8000)
    # 1845 → k=250 linear, no bias → 8000 ReLU → 183.
    expected = 1845 * 250 + 251 * 8000 + 8001 * 183
    assert mimic_param_count(cfg, 183, (1845,)) == expected
    small = MimicConfig(conv_filters=0, bottleneck=8, hidden=32)
    mimic = build_mimic(small, 183, input_shape=(1845,))
    assert mimic.count_params() == mimic_param_count(small, 183, (1845,)) == 1845 * 8 + 9 * 32 + 33 * 183
    assert speech.hidden_units(mimic) == 32  # the linear bottleneck is not a hidden layer


def test_speech_models_round_trip(tmp_path):
    x = _windows(3)
    run_serialization_test(speech.build_speech_teacher(TINY_DNN), x, tmp_path / "dnn")
    run_serialization_test(speech.build_speech_teacher(TINY_CNN), x, tmp_path / "cnn")


def test_timit_presets_round_trip():
    import json

    for name in ("timit-quick", "timit-paper"):
        cfg = config.get_preset(name)
        assert cfg.name == name and cfg.data.dataset == "timit" and cfg.num_classes == 183
        assert cfg.mimic.conv_filters == 0 and not cfg.mimic_train.augment
        assert config.from_dict(json.loads(json.dumps(config.to_dict(cfg)))) == cfg
