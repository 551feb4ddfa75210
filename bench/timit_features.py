"""Feature extraction speed: tf.signal fbank+Δ+ΔΔ vs librosa on the same audio, as real-time factors.

    python bench/timit_features.py [--timit ROOT] [--utterances 200] [--repeats 3]

Reads up to `--utterances` TIMIT utterances (default: the stand-in corpus at
../shared/data/timit-standin when present, else 60 s of synthetic audio cut in 3 s pieces),
then times, in one run, per-utterance extraction of the same 123 features by
`mimic_keras.data.features.compute_features` (tf.function, CPU) and by librosa (STFT with the
same framing and window, `librosa.filters.mel` filters, `librosa.feature.delta`). The
real-time factor is processing time / audio duration (lower is faster); the best of
`--repeats` alternated passes is reported, after one warm-up utterance each.
"""

import argparse
import glob
import os
import sys
import time

import librosa
import numpy as np
import tensorflow as tf

from mimic_keras.data import features, sphere

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "timit-standin"))


def load_audio(root, limit):
    if root and os.path.isdir(root):
        paths = sorted(glob.glob(os.path.join(root, "*", "*", "*", "*.[Ww][Aa][Vv]")))[:limit]
        return [sphere.read_audio(p)[0] for p in paths], f"{len(paths)} utterances from {root}"
    rng = np.random.default_rng(0)
    pieces = [(0.1 * rng.standard_normal(48_000)).astype(np.float32) for _ in range(20)]
    return pieces, "20 synthetic 3 s pieces (no corpus found)"


_MEL = features.mel_matrix().T.astype(np.float64)
_WINDOW = np.hamming(features.FRAME_LENGTH)


def librosa_features(x):
    """The same 123 features with librosa (float64)."""
    # librosa centres the 400-sample window in each 512-sample FFT frame: 56 zeros on each
    # side of the signal put its windows on the same samples as tf.signal's.
    pad = (features.FFT_LENGTH - features.FRAME_LENGTH) // 2
    stft = librosa.stft(np.pad(x, pad), n_fft=features.FFT_LENGTH, hop_length=features.FRAME_STEP,
                        win_length=features.FRAME_LENGTH, window=_WINDOW, center=False)
    power = np.abs(stft) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=features.SAMPLE_RATE, n_fft=features.FFT_LENGTH,
                                         n_mels=features.NUM_MEL, htk=True, norm=None)
    frames = librosa.util.frame(x, frame_length=features.FRAME_LENGTH, hop_length=features.FRAME_STEP)
    energy = np.square(frames * _WINDOW[:, None]).sum(0, keepdims=True)
    static = np.log(np.maximum(np.vstack([mel, energy]), features.LOG_FLOOR))
    delta = librosa.feature.delta(static, width=5, mode="nearest")
    return np.vstack([static, delta, librosa.feature.delta(delta, width=5, mode="nearest")]).T


def tf_features(x):
    return features.compute_features(x).numpy()


def best_times(extractors, audio, repeats):
    """Best-of-`repeats` seconds per extractor, passes alternated so both see the same load."""
    for fn in extractors.values():
        fn(audio[0])  # warm-up: tracing, caches
    best = {name: float("inf") for name in extractors}
    for _ in range(repeats):
        for name, fn in extractors.items():
            start = time.perf_counter()
            for x in audio:
                fn(x)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timit", default=ROOT)
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    audio, source = load_audio(args.timit, args.utterances)
    seconds = sum(len(x) for x in audio) / features.SAMPLE_RATE
    diff = max(float(np.max(np.abs(tf_features(x) - librosa_features(x)))) for x in audio[:5])
    timings = best_times({"tf.signal (mimic_keras)": tf_features, "librosa": librosa_features}, audio, args.repeats)
    print(f"audio: {source}, {seconds:.1f} s; tf {tf.__version__}, librosa {librosa.__version__}, "
          f"{os.cpu_count()} CPUs; best of {args.repeats}")
    print(f"same features: max |tf - librosa| over all 123 values (first 5 utterances) = {diff:.2e}")
    print(f"{'extractor':<26}{'seconds':>9}{'RTF':>10}{'x real time':>13}")
    for name, t in timings.items():
        print(f"{name:<26}{t:>9.3f}{t / seconds:>10.5f}{seconds / t:>13.0f}")
    ratio = timings["librosa"] / timings["tf.signal (mimic_keras)"]
    print(f"tf.signal is {ratio:.2f}x the speed of librosa on the same audio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
