import librosa
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import features

# float32 tf.signal against a float64 NumPy/librosa reference: measured differences are
# ~5e-6 on the log values; the stated tolerance is 1e-3 absolute.
ATOL = 1e-3


def _audio(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 3 * t) + 0.02 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def _reference(x):
    """The same features from NumPy framing, librosa's mel filters and librosa's deltas."""
    frames = librosa.util.frame(x.astype(np.float64), frame_length=400, hop_length=160, axis=0)
    windowed = frames * np.hamming(400)  # symmetric, as HTK
    power = np.abs(np.fft.rfft(windowed, n=512)) ** 2
    mel = librosa.feature.melspectrogram(S=power.T, sr=16000, n_fft=512, n_mels=40, htk=True, norm=None).T
    energy = np.square(windowed).sum(1, keepdims=True)
    static = np.log(np.maximum(np.c_[mel, energy], 1e-10))
    delta = librosa.feature.delta(static, width=5, mode="nearest", axis=0)
    return np.c_[static, delta, librosa.feature.delta(delta, width=5, mode="nearest", axis=0)]


@pytest.mark.parametrize("num_samples,frames", [(400, 1), (559, 1), (560, 2), (16000, 98), (30097, 186)])
def test_frame_count_and_shape(num_samples, frames):
    assert features.num_frames(num_samples) == frames
    out = features.compute_features(tf.zeros([num_samples]))
    assert out.shape == (frames, 123) and out.dtype == tf.float32


def test_too_short_for_a_frame():
    assert features.num_frames(399) == 0
    assert features.compute_features(tf.zeros([399])).shape == (0, 123)


def test_mel_matrix_is_librosa_htk_unnormalised():
    expected = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=True, norm=None).T
    np.testing.assert_allclose(features.mel_matrix(), expected, atol=1e-6)


def test_features_match_librosa_reference():
    x = _audio(seconds=1.3)
    ours = features.compute_features(x).numpy()
    ref = _reference(x)
    assert ours.shape == ref.shape == (features.num_frames(len(x)), 123)
    np.testing.assert_allclose(ours[:, :41], ref[:, :41], atol=ATOL)
    np.testing.assert_allclose(ours[:, 41:82], ref[:, 41:82], atol=ATOL)
    np.testing.assert_allclose(ours[:, 82:], ref[:, 82:], atol=ATOL)


def test_deltas_on_a_ramp():
    ramp = tf.constant(np.arange(10, dtype=np.float32)[:, None] * [1.0, -2.0])
    d = features.deltas(ramp).numpy()
    np.testing.assert_allclose(d[2:-2], [[1.0, -2.0]] * 6, atol=1e-6)  # interior: the slope
    # Edges replicated: at t=0 the window is [0, 0, 0, 1, 2] -> (1·1 + 2·2) / 10.
    np.testing.assert_allclose(d[0], [0.5, -1.0], atol=1e-6)
    np.testing.assert_allclose(d, librosa.feature.delta(ramp.numpy(), width=5, mode="nearest", axis=0), atol=1e-6)


def test_log_energy_and_floor():
    x = _audio(0.1)
    out = features.compute_features(x).numpy()
    frame = x[160:560].astype(np.float64) * np.hamming(400)
    assert out[1, 40] == pytest.approx(np.log(np.sum(frame ** 2)), abs=1e-4)
    silent = features.compute_features(tf.zeros([800])).numpy()
    np.testing.assert_allclose(silent[:, :41], np.log(1e-10), rtol=1e-6)
    np.testing.assert_allclose(silent[:, 41:], 0.0, atol=1e-5)
