"""The speakers and utterances of a TIMIT-layout corpus, and how they are dealt into splits.

`scan` lists a corpus (`TRAIN|TEST/DR1..DR8/<SPEAKER>/<UTT>.WAV|.PHN`, any letter case);
`plan_splits` deals it into speaker-disjoint train / dev / test, `plan_extra` deals another
corpus's training speech into the unlabelled `extra_*` parts, and `read_utterance` reads and
checks one utterance. Every choice is by sha256 of speaker ids, the same on every machine.
"""

import dataclasses
import hashlib
import os
import re

import numpy as np

from mimic_keras.data import features, phones, sphere
from mimic_keras.data.timit import EXTRA_SPLITS

REAL_TIMIT_TRAIN_SPEAKERS, REAL_TIMIT_DEV_SPEAKERS = 462, 50
_AUDIO_EXTENSIONS = (".wav", ".flac", ".sph")


class CorpusError(ValueError):
    """A corpus that cannot be converted; the message names the file or folder."""


@dataclasses.dataclass(frozen=True)
class Utterance:
    part: str  # TRAIN or TEST
    dialect: str  # DR1..DR8
    speaker: str  # e.g. FCJF0
    name: str  # e.g. SX127
    audio: str
    phn: str

    @property
    def id(self):
        return f"{self.speaker}_{self.name}"


def _subdirs(path):
    return {e.name.upper(): e.path for e in os.scandir(path) if e.is_dir()}


def find_parts(root):
    """`{"TRAIN": path, "TEST": path}` under `root` or one folder below it, any letter case."""
    if not os.path.isdir(root):
        raise CorpusError(f"{root}: no such folder")
    candidates = [root] + sorted(_subdirs(root).values())
    for folder in candidates:
        subs = _subdirs(folder)
        if "TRAIN" in subs and "TEST" in subs:
            return {"TRAIN": subs["TRAIN"], "TEST": subs["TEST"]}
    raise CorpusError(f"{root}: no TRAIN and TEST folders (TIMIT layout TRAIN|TEST/DR1..DR8/<speaker>/<utt>.WAV)")


def scan(root):
    """Lists the utterances of a TIMIT tree.

    Returns:
        `{"TRAIN": [Utterance], "TEST": [Utterance]}`, sorted by speaker and name. An
        utterance's audio is its `.WAV` (or `.flac`/`.sph`); a `.PHN` that is missing is
        reported later, by the check.
    """
    corpus = {}
    for part, part_dir in find_parts(root).items():
        utts = []
        for dialect, dr_dir in sorted(_subdirs(part_dir).items()):
            if not re.fullmatch(r"DR\d", dialect):
                continue
            for speaker, spk_dir in sorted(_subdirs(dr_dir).items()):
                files = {}
                for entry in os.scandir(spk_dir):
                    if entry.is_file() and not entry.name.startswith("."):
                        stem, ext = entry.name.split(".")[0].upper(), os.path.splitext(entry.name)[1].lower()
                        files.setdefault(stem, []).append((ext, entry.path))
                for name, found in sorted(files.items()):
                    audio = [p for ext, p in sorted(found) if ext in _AUDIO_EXTENSIONS]
                    if not audio:
                        continue
                    # Prefer the corpus's own .WAV over copies converted beside it (SA1.WAV.wav).
                    audio.sort(key=lambda p: (p.lower().count("."), p))
                    phn = [p for ext, p in found if ext == ".phn"]
                    default_phn = os.path.join(spk_dir, name + (".PHN" if name.isupper() else ".phn"))
                    utts.append(Utterance(part, dialect, speaker, name, audio[0], phn[0] if phn else default_phn))
        corpus[part] = utts
    if not corpus["TRAIN"]:
        raise CorpusError(f"{root}: no utterances under TRAIN")
    return corpus


def _hash_order(speakers):
    """Speakers in a fixed pseudo-random order, the same on every machine (sha256 of the id)."""
    return sorted(speakers, key=lambda s: hashlib.sha256(s.encode()).hexdigest())


def _speakers_of(splits):
    """`{split: sorted speaker ids}` of `{split: [Utterance]}`."""
    return {k: sorted({u.speaker for u in v}) for k, v in splits.items()}


def choose_dev_speakers(speakers, count):
    """`count` speakers for the dev set, the same on every machine (ordered by sha256 of the id)."""
    return sorted(_hash_order(speakers)[:count])


def default_dev_speakers(num_train_speakers):
    """50 for TIMIT's 462 training speakers, proportionally fewer for a smaller corpus."""
    if num_train_speakers < 2:
        return 0
    return max(1, round(REAL_TIMIT_DEV_SPEAKERS * num_train_speakers / REAL_TIMIT_TRAIN_SPEAKERS))


def plan_splits(corpus, dev_speakers=None, full_test=False, include_sa=False, limit=None):
    """Assigns utterances to train / dev / test.

    Returns:
        `({split: [Utterance]}, {split: [speaker ids]})`.
    """
    def keep(u):
        return include_sa or not u.name.startswith("SA")

    train_speakers = sorted({u.speaker for u in corpus["TRAIN"]})
    both = sorted(set(train_speakers) & {u.speaker for u in corpus["TEST"]})
    if both:  # they would be trained (or tuned) on and tested on
        raise CorpusError(f"speakers under both TRAIN and TEST: {', '.join(both[:10])}"
                          f"{' ...' if len(both) > 10 else ''}; a speaker belongs to one part: move or remove them")
    n_dev = default_dev_speakers(len(train_speakers)) if dev_speakers is None else dev_speakers
    if not 0 <= n_dev < len(train_speakers):
        raise CorpusError(f"--dev-speakers {n_dev}: TRAIN has {len(train_speakers)} speakers")
    dev = set(choose_dev_speakers(train_speakers, n_dev))
    test_speakers = {u.speaker for u in corpus["TEST"]}
    if not full_test:
        test_speakers &= set(phones.CORE_TEST_SPEAKERS)
        if not test_speakers:
            raise CorpusError("no core test speaker (MDAB0, MWBT0, ...) under TEST; use --full-test for all TEST speakers")
    splits = {
        "train": [u for u in corpus["TRAIN"] if u.speaker not in dev and keep(u)],
        "dev": [u for u in corpus["TRAIN"] if u.speaker in dev and keep(u)],
        "test": [u for u in corpus["TEST"] if u.speaker in test_speakers and keep(u)],
    }
    if not n_dev:
        del splits["dev"]
    if limit:
        splits = {k: v[:limit] for k, v in splits.items()}
    speakers = _speakers_of(splits)
    check_disjoint(speakers)
    return splits, speakers


def check_disjoint(speakers):
    """Refuses (`CorpusError`) a speaker in two of `{split: [speaker ids]}`, naming them."""
    seen = {}
    for split, ids in speakers.items():
        for speaker in ids:
            if speaker in seen and seen[speaker] != split:
                raise CorpusError(f"speaker {speaker} is in both {seen[speaker]} and {split}; splits must not share speakers")
            seen.setdefault(speaker, split)


def read_sentence(utt):
    """The sentence of an utterance's `.TXT` ("<begin> <end> <text>"), lower case, words only.

    Raises:
        CorpusError: no `.TXT` beside the audio, or one without text.
    """
    stem = os.path.splitext(utt.phn)[0]
    for path in (stem + ".TXT", stem + ".txt"):
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                fields = f.read().split(None, 2)
            words = re.findall(r"[a-z0-9']+", fields[2].lower()) if len(fields) == 3 else []
            if not words:
                raise CorpusError(f"{path}: no sentence (expected '<begin> <end> <text>')")
            return " ".join(words)
    raise CorpusError(f"{stem}.TXT: missing; --unlabelled compares sentences to leave out the test ones")


def plan_extra(extra_root, corpus, dev_speakers, include_sa=False, limit=None):
    """The `extra_*` splits: another corpus's TRAIN speech minus the sentences of `corpus`'s TEST and dev.

    Args:
        extra_root: the other corpus.
        corpus: `scan()` of the labelled corpus.
        dev_speakers: its dev speakers (their sentences are held out too).
        include_sa: keep SA1/SA2.
        limit: at most this many utterances per part.

    Returns:
        `({split: [Utterance]}, {split: [speaker ids]}, left_out)`: four parts of equal speaker
        counts (±1) and the number of utterances left out for their sentence.
    """
    dev = set(dev_speakers)
    held_out = {read_sentence(u) for u in corpus["TEST"]}
    held_out |= {read_sentence(u) for u in corpus["TRAIN"] if u.speaker in dev}
    utts = [u for u in scan(extra_root)["TRAIN"] if include_sa or not u.name.startswith("SA")]
    kept = [u for u in utts if read_sentence(u) not in held_out]
    speakers = _hash_order({u.speaker for u in kept})
    if len(speakers) < len(EXTRA_SPLITS):
        raise CorpusError(f"{extra_root}: {len(speakers)} TRAIN speakers with usable sentences; "
                          f"--unlabelled needs at least {len(EXTRA_SPLITS)}")
    part = {s: i % len(EXTRA_SPLITS) for i, s in enumerate(speakers)}
    splits = {name: [u for u in kept if part[u.speaker] == i][:limit] for i, name in enumerate(EXTRA_SPLITS)}
    return splits, _speakers_of(splits), len(utts) - len(kept)


def read_utterance(utt):
    """Audio and transcription of one utterance, checked.

    Returns:
        `(samples, segments, states, segment_ids, first_frame)`: float32 audio, `.PHN`
        segments, state ids and segment indices of the transcribed frames, and the index of
        the first of them.

    Raises:
        CorpusError: anything wrong with either file, in one line naming it.
    """
    try:
        samples, _ = sphere.read_audio(utt.audio, features.SAMPLE_RATE)
        segments = phones.read_phn(utt.phn, num_samples=len(samples))
    except (sphere.AudioFormatError, phones.TranscriptError) as e:
        raise CorpusError(str(e)) from None
    states, segment_ids = phones.frame_states(segments, features.num_frames(len(samples)), features.FRAME_LENGTH, features.FRAME_STEP)
    labelled = np.nonzero(states >= 0)[0]
    if len(labelled) == 0:
        raise CorpusError(f"{utt.audio}: {len(samples)} samples: no complete 25 ms frame inside the transcribed span")
    span = slice(labelled[0], labelled[-1] + 1)
    return samples, segments, states[span], segment_ids[span], int(labelled[0])
