"""Filterbank features for TIMIT, in `tf.signal`: 40 log mel energies + log energy, Δ and ΔΔ.

Per 10 ms frame (160 samples at 16 kHz) of a 25 ms (400-sample) symmetric Hamming window,
zero-padded to a 512-point FFT:

    [ 0:40 ]   log mel energies: power spectrum × 40 triangular filters on the HTK mel scale
               from 0 Hz to 8 kHz, unnormalised (peak 1), the same matrix as
               `librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=True, norm=None)`
    [40    ]   log energy of the windowed frame (sum of squares)
    [41:82 ]   Δ of the 41 static values: d_t = Σ_{n=1..2} n (c_{t+n} - c_{t-n}) / 10,
               edges replicated (= `librosa.feature.delta(width=5, mode="nearest")`)
    [82:123]   ΔΔ: the same regression applied to Δ

Frames are not centred or padded: an utterance of N samples has 1 + (N - 400) // 160 frames,
frame t covering samples [160 t, 160 t + 400). Samples are floats in [-1, 1); logs are floored
at 1e-10. No pre-emphasis: on log mel energies it adds a near-constant per band, which mean
normalisation removes. No dither: features are deterministic.
"""

import functools

import numpy as np
import tensorflow as tf

from mimic_keras.timit_layout import FEATURE_DIM, NUM_MEL

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_STEP = 160  # 10 ms
FFT_LENGTH = 512
DELTA_WIDTH = 2  # ±2 frames
LOG_FLOOR = 1e-10

CONFIG = {
    "sample_rate": SAMPLE_RATE,
    "frame_length": FRAME_LENGTH,
    "frame_step": FRAME_STEP,
    "fft_length": FFT_LENGTH,
    "window": "hamming (symmetric)",
    "num_mel": NUM_MEL,
    "mel_scale": "htk, 0-8000 Hz, unnormalised triangles",
    "power": 2,
    "log_floor": LOG_FLOOR,
    "delta_width": DELTA_WIDTH,
    "layout": "40 log mel, log energy, then their delta and delta-delta",
    "dim": FEATURE_DIM,
}


def hz_to_mel(hz):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_matrix(num_mel=NUM_MEL, fft_length=FFT_LENGTH, sample_rate=SAMPLE_RATE, fmin=0.0, fmax=None):
    """Triangular mel filters, `[fft_length // 2 + 1, num_mel]` float32.

    Band edges are equally spaced on the HTK mel scale; triangles are linear in Hz with peak 1.
    The transpose of `librosa.filters.mel(..., htk=True, norm=None)`.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), num_mel + 2))
    bins = np.linspace(0.0, sample_rate / 2, fft_length // 2 + 1)
    lower = (bins[:, None] - edges[None, :-2]) / (edges[1:-1] - edges[:-2])
    upper = (edges[None, 2:] - bins[:, None]) / (edges[2:] - edges[1:-1])
    return np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)


def num_frames(num_samples):
    """Frames in an utterance of `num_samples` samples (0 when shorter than one window)."""
    return 0 if num_samples < FRAME_LENGTH else 1 + (num_samples - FRAME_LENGTH) // FRAME_STEP


_WINDOW = functools.partial(tf.signal.hamming_window, periodic=False)
# A NumPy array, not a tf.constant: importing this module must not start TensorFlow's runtime
# (a multi-worker strategy has to be created before the first op of the process).
_MEL = mel_matrix()


def log_fbank(waveform):
    """Static features: 40 log mel energies and the log energy, `[T, 41]`.

    Args:
        waveform: float32 samples `[N]` in [-1, 1) at 16 kHz.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    stft = tf.signal.stft(waveform, FRAME_LENGTH, FRAME_STEP, FFT_LENGTH, window_fn=_WINDOW, pad_end=False)
    power = tf.math.square(tf.math.real(stft)) + tf.math.square(tf.math.imag(stft))
    mel = tf.matmul(power, _MEL)
    frames = tf.signal.frame(waveform, FRAME_LENGTH, FRAME_STEP) * _WINDOW(FRAME_LENGTH)
    energy = tf.reduce_sum(tf.math.square(frames), axis=-1, keepdims=True)
    return tf.math.log(tf.maximum(tf.concat([mel, energy], axis=-1), LOG_FLOOR))


def deltas(x, width=DELTA_WIDTH):
    """Regression deltas along time (axis 0) over ±`width` frames, edge frames replicated.

    d_t = Σ_{n=1..width} n (x_{t+n} - x_{t-n}) / (2 Σ n²).
    """
    x = tf.convert_to_tensor(x)
    t = tf.shape(x)[0]
    padded = tf.concat([tf.repeat(x[:1], width, axis=0), x, tf.repeat(x[-1:], width, axis=0)], axis=0)
    total = tf.zeros_like(x)
    for n in range(1, width + 1):
        total += n * (padded[width + n:width + n + t] - padded[width - n:width - n + t])
    return total / (2.0 * sum(n * n for n in range(1, width + 1)))


@tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
def compute_features(waveform):
    """The 123 features per frame, `[T, 123]` float32 (layout in the module docstring).

    Args:
        waveform: float32 samples `[N]` in [-1, 1) at 16 kHz, N >= 400.

    Example:
        >>> compute_features(tf.zeros([16000])).shape  # 1 s of audio
        TensorShape([98, 123])
    """
    static = log_fbank(waveform)
    delta = deltas(static)
    return tf.concat([static, delta, deltas(delta)], axis=-1)
