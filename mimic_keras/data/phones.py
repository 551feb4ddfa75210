"""TIMIT's phone set, the 61 → 39 folding, `.PHN` transcriptions and per-frame state targets.

Targets are HMM states: each of the 61 phones has 3 left-to-right states, 183 classes in all
(state id = 3 × phone index + state). With no forced aligner, the frames of each `.PHN`
segment are split into three near-equal consecutive parts, states 0, 1 and 2
(`floor(3 i / k)` for the i-th of k frames): a segment of 1 frame gets state 0 only, one of
2 frames states 0 and 1. A frame belongs to the segment holding its centre sample.

Scoring folds the 61 phones to Lee & Hon's (1989) 39 classes: `q` is deleted, closures,
`h#`, `pau` and `epi` become `sil`, and the clusters {aa ao} {ah ax ax-h} {er axr} {hh hv}
{ih ix} {l el} {m em} {n en nx} {ng eng} {sh zh} {uw ux} merge. The table is the third column
of Kaldi's `egs/timit/s5/conf/phones.60-48-39.map` plus `q` deleted; ESPnet and SpeechBrain
use the same.
"""

import numpy as np

from mimic_keras.timit_layout import NUM_PHONES, NUM_STATES, STATES_PER_PHONE  # noqa: F401  (re-exported)

# TIMIT's 61 phones in the order of the corpus's PHONCODE.DOC (vowels, stops, fricatives,
# nasals, semivowels, closures, others). The order fixes the class ids: do not reorder.
PHONES = (
    "iy", "ih", "eh", "ey", "ae", "aa", "aw", "ay", "ah", "ao", "oy", "ow", "uh", "uw", "ux",
    "er", "ax", "ix", "axr", "ax-h", "jh", "ch", "b", "d", "g", "p", "t", "k", "dx", "s", "sh",
    "z", "zh", "f", "th", "v", "dh", "m", "n", "ng", "em", "nx", "en", "eng", "l", "r", "w", "y",
    "hh", "hv", "el", "bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "q", "pau", "epi", "h#",
)
PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}

# 61 → 39 (Lee & Hon 1989); None deletes the phone.
FOLD_61_TO_39 = {
    "aa": "aa", "ae": "ae", "ah": "ah", "ao": "aa", "aw": "aw", "ax": "ah", "ax-h": "ah",
    "axr": "er", "ay": "ay", "b": "b", "bcl": "sil", "ch": "ch", "d": "d", "dcl": "sil",
    "dh": "dh", "dx": "dx", "eh": "eh", "el": "l", "em": "m", "en": "n", "eng": "ng",
    "epi": "sil", "er": "er", "ey": "ey", "f": "f", "g": "g", "gcl": "sil", "h#": "sil",
    "hh": "hh", "hv": "hh", "ih": "ih", "ix": "ih", "iy": "iy", "jh": "jh", "k": "k",
    "kcl": "sil", "l": "l", "m": "m", "n": "n", "ng": "ng", "nx": "n", "ow": "ow", "oy": "oy",
    "p": "p", "pau": "sil", "pcl": "sil", "q": None, "r": "r", "s": "s", "sh": "sh", "t": "t",
    "tcl": "sil", "th": "th", "uh": "uh", "uw": "uw", "ux": "uw", "v": "v", "w": "w", "y": "y",
    "z": "z", "zh": "sh",
}
PHONES_39 = (
    "iy", "ih", "eh", "ae", "ah", "uw", "uh", "aa", "ey", "ay", "oy", "aw", "ow", "er",
    "l", "r", "w", "y", "m", "n", "ng", "ch", "jh", "dh", "b", "d", "dx", "g", "p", "t", "k",
    "z", "v", "f", "th", "s", "sh", "hh", "sil",
)
PHONE_39_INDEX = {p: i for i, p in enumerate(PHONES_39)}
# Folded class of each 61-phone index; -1 for q (deleted in transcripts, ignored in frame scores).
FOLD_INDEX = np.array(
    [PHONE_39_INDEX[FOLD_61_TO_39[p]] if FOLD_61_TO_39[p] else -1 for p in PHONES], np.int32
)

# TIMIT's 24-speaker core test set: 2 men and 1 woman from each dialect region DR1..DR8, in
# that order (TIMIT's TESTSET.DOC; Kaldi's conf/test_spk.list). DR8's second man is MPAM0.
CORE_TEST_SPEAKERS = (
    "MDAB0", "MWBT0", "FELC0", "MTAS1", "MWEW0", "FPAS0", "MJMP0", "MLNT0", "FPKT0", "MLLL0",
    "MTLS0", "FJLM0", "MBPM0", "MKLT0", "FNLP0", "MCMJ0", "MJDH0", "FMGD0", "MGRT0", "MNJM0",
    "FDHC0", "MJLN0", "MPAM0", "FMLD0",
)


class TranscriptError(ValueError):
    """A `.PHN` file that cannot be used; the message names the file and the line."""


def fold(phones, merge_repeats=True):
    """Folds 61-set phone symbols to the 39-set for scoring.

    Args:
        phones: iterable of 61-set symbols (39-set symbols and `sil` pass through unchanged).
        merge_repeats: merge runs of identical folded labels (`h# bcl b` → `sil b`), the
            convention of the project's scorer.

    Returns:
        A list of 39-set symbols, `q` removed.
    """
    out = []
    for p in phones:
        folded = FOLD_61_TO_39[p] if p in FOLD_61_TO_39 else p
        if folded is None:
            continue
        if folded not in PHONE_39_INDEX:
            raise KeyError(f"unknown phone {p!r}")
        if merge_repeats and out and out[-1] == folded:
            continue
        out.append(folded)
    return out


def read_phn(path, num_samples=None):
    """Reads a TIMIT `.PHN` file: `<begin> <end> <phone>` per line, sample units.

    Args:
        path: the `.PHN` file.
        num_samples: the audio's length; segments must end within it.

    Returns:
        A list of `(begin, end, phone)` tuples, contiguous and in time order.

    Raises:
        TranscriptError: missing file, malformed line, unknown phone, a segment that is empty,
            out of order, not contiguous with the previous one, or past the end of the audio.
    """
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise TranscriptError(f"{path}: missing .PHN transcription") from None
    segments = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
            raise TranscriptError(f"{path}:{n}: expected '<begin> <end> <phone>', got {line.strip()!r}")
        begin, end, phone = int(fields[0]), int(fields[1]), fields[2]
        if phone not in PHONE_INDEX:
            raise TranscriptError(f"{path}:{n}: unknown phone symbol {phone!r} (not in TIMIT's 61-phone set)")
        if end <= begin:
            raise TranscriptError(f"{path}:{n}: segment {begin}-{end} is empty or reversed")
        if segments and begin != segments[-1][1]:
            raise TranscriptError(
                f"{path}:{n}: segment {begin}-{end} does not start where the previous one ends "
                f"({segments[-1][1]}): lines out of order, overlapping or with a gap"
            )
        if num_samples is not None and end > num_samples:
            raise TranscriptError(f"{path}:{n}: segment ends at sample {end}, past the end of the audio ({num_samples} samples)")
        segments.append((begin, end, phone))
    if not segments:
        raise TranscriptError(f"{path}: empty transcription")
    return segments


def frame_states(segments, num_frames, frame_length=400, frame_step=160):
    """Per-frame state ids from `.PHN` segments (frame t is centred on sample t·step + length/2).

    Args:
        segments: `(begin, end, phone)` tuples from `read_phn`.
        num_frames: frames in the utterance's feature matrix.
        frame_length: analysis window, samples.
        frame_step: hop, samples.

    Returns:
        `(states, segment_ids)`: int32 arrays of length `num_frames`; -1 marks frames whose
        centre lies outside the transcribed span (before the first or after the last segment).

    Example:
        >>> states, _ = frame_states([(0, 800, "h#"), (800, 1300, "s")], 7)
        >>> (states // 3).tolist(), (states % 3).tolist()  # h# is phone 60, s is 29
        ([60, 60, 60, 60, 29, 29, 29], [0, 0, 1, 2, 0, 1, 2])
    """
    ends = np.array([s[1] for s in segments], np.int64)
    begin = segments[0][0]
    centres = np.arange(num_frames, dtype=np.int64) * frame_step + frame_length // 2
    seg = np.searchsorted(ends, centres, side="right")
    inside = (centres >= begin) & (seg < len(segments))
    seg = np.where(inside, seg, -1).astype(np.int32)
    states = np.full(num_frames, -1, np.int32)
    if not inside.any():
        return states, seg
    idx = np.nonzero(inside)[0]
    s = seg[idx]
    # Position of each frame within its segment, and the segment's frame count.
    first = np.r_[0, np.nonzero(np.diff(s))[0] + 1]
    counts = np.diff(np.r_[first, len(s)])
    pos = np.arange(len(s)) - np.repeat(first, counts)
    k = np.repeat(counts, counts)
    sub = (STATES_PER_PHONE * pos) // k
    phone_ids = np.array([PHONE_INDEX[segments[j][2]] for j in s], np.int32)
    states[idx] = phone_ids * STATES_PER_PHONE + sub
    return states, seg
