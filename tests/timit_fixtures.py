"""Tiny TIMIT-format fixtures written by the tests: NIST SPHERE / RIFF audio, .PHN, a corpus tree."""

import os
import wave

import numpy as np

SAMPLE_RATE = 16000
SPHERE_FIELDS = {
    "database_id": ("-s5", "TIMIT"),
    "channel_count": ("-i", 1),
    "sample_rate": ("-i", SAMPLE_RATE),
    "sample_n_bytes": ("-i", 2),
    "sample_byte_format": ("-s2", "01"),
    "sample_sig_bits": ("-i", 16),
}
# Phones the synthetic utterances draw from (all fold to distinct 39-set classes but h#).
PHONE_POOL = ("s", "iy", "t", "aa", "n", "m", "eh", "k", "sh", "ow", "l", "z", "ae", "f")


def sphere_bytes(samples, fields=None, header_size=1024, byte_order="<", magic=b"NIST_1A"):
    """A NIST SPHERE file's bytes. `fields` overrides or (value None) removes header fields."""
    samples = np.asarray(samples)
    header = dict(SPHERE_FIELDS, sample_count=("-i", len(samples)))
    if byte_order == ">":
        header["sample_byte_format"] = ("-s2", "10")
    for key, value in (fields or {}).items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    lines = [magic.decode(), f"{header_size:7d}"]
    lines += [f"{k} {kind} {v}" for k, (kind, v) in header.items()]
    text = ("\n".join(lines) + "\nend_head\n").encode()
    text += b" " * max(0, header_size - len(text))
    body = samples.astype(np.dtype(byte_order + "i2")).tobytes()
    return text + body


def write_sphere(path, samples, **kwargs):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(sphere_bytes(samples, **kwargs))
    return path


def write_riff(path, samples, sample_rate=SAMPLE_RATE):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())
    return path


def write_phn(path, segments):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.writelines(f"{b} {e} {p}\n" for b, e, p in segments)
    return path


def write_txt(path, num_samples, sentence):
    """A TIMIT `.TXT`: "<begin> <end> <sentence>"."""
    with open(path, "w") as f:
        f.write(f"0 {num_samples} {sentence}\n")


def sentence_of(utt):
    """The fixtures' sentence for an utterance name: the same for every speaker, as TIMIT's SA/SX prompts."""
    return f"Sentence {utt.lower()}."


def synth_utterance(rng, num_phones=6):
    """Int16 audio and contiguous .PHN segments: h#, then tones (one frequency per phone), h#.

    Every segment lasts at least 3 frames (>= 480 samples), so every phone gets all 3 states.
    """
    names = ["h#"] + list(rng.choice(PHONE_POOL, num_phones)) + ["h#"]
    lengths = rng.integers(480, 1600, len(names))
    segments, pos, chunks = [], 0, []
    for name, n in zip(names, lengths):
        t = np.arange(n) / SAMPLE_RATE
        freq = 0.0 if name == "h#" else 200.0 + 150.0 * PHONE_POOL.index(name)
        tone = 0.3 * np.sin(2 * np.pi * freq * t) if freq else np.zeros(n)
        chunks.append(tone + 0.01 * rng.standard_normal(n))
        segments.append((pos, pos + int(n), str(name)))
        pos += int(n)
    samples = np.clip(np.concatenate(chunks) * 32767, -32768, 32767).astype(np.int16)
    return samples, segments


TRAIN_SPEAKERS = (("DR1", "FAKE0"), ("DR1", "MABC0"), ("DR2", "FDEF0"), ("DR3", "MGHI0"), ("DR4", "MJKL0"), ("DR5", "FMNO0"))
TEST_SPEAKERS = (("DR1", "MDAB0"), ("DR2", "FPAS0"), ("DR3", "MZZZ9"))  # two core, one not
UTTERANCES = ("SA1", "SI100", "SX200")


def make_corpus(root, train=TRAIN_SPEAKERS, test=TEST_SPEAKERS, utterances=UTTERANCES, lower=False, seed=0,
                riff=False):
    """Writes a tiny TIMIT tree under `root` and returns `root`.

    Args:
        root: the folder to create (holds TRAIN and TEST).
        train, test: `(dialect, speaker)` pairs.
        utterances: utterance names per speaker.
        lower: lower-case names throughout, as some copies have.
        riff: RIFF WAV audio instead of SPHERE (converted copies).
        seed: makes the audio and transcriptions.
    """
    rng = np.random.default_rng(seed)
    case = str.lower if lower else str
    for part, speakers in (("TRAIN", train), ("TEST", test)):
        for dialect, speaker in speakers:
            folder = os.path.join(root, case(part), case(dialect), case(speaker))
            for utt in utterances:
                samples, segments = synth_utterance(rng)
                audio = os.path.join(folder, case(utt + ".WAV"))
                (write_riff if riff else write_sphere)(audio, samples)
                write_phn(os.path.join(folder, case(utt + ".PHN")), segments)
                write_txt(os.path.join(folder, case(utt + ".TXT")), len(samples), sentence_of(utt))
    return root


def utterance_files(root, speaker, utt="SX200"):
    """(audio, phn) paths of one utterance in a `make_corpus` tree (upper case)."""
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) == speaker:
            return os.path.join(dirpath, utt + ".WAV"), os.path.join(dirpath, utt + ".PHN")
    raise FileNotFoundError(speaker)
