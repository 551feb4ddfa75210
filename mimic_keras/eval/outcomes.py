"""Per-example outcomes small enough to keep beside a results table, so paired intervals outlive the runs.

A paired interval needs more than two accuracies: which test images each model got right
(CIFAR-10), or each test speaker's phone errors (TIMIT PER, speakers resampled). The run folders
that hold the models and transcripts are not kept (nor committed), so a sweep's row (and each
model of a run report) also stores

* `test_correct` (images): `{"n", "ids_sha256", "bits"}`, the correctness of every test image in
  the order of its sorted ids, packed 8 to a byte and base64-encoded (1.7 kB for 10,000 images);
* `test_speaker_totals` (speech): `{"speakers", "errors", "phones"}`, per test speaker in sorted
  order, the edit operations of the decoded phones and the reference phones, each a string of
  space-separated values (one line of an indented JSON file; 168 speakers: 2 kB).

`paired_difference` gives from two such records exactly what `experiments/paired_ci.py` gives
from the run folders (the same per-image differences, the same speaker draws). Records of
different test sets (other ids, other speakers or other reference phones) are refused.
"""

import base64
import hashlib

import numpy as np

from mimic_keras.eval import stats


def pack_correct(ids, correct):
    """The `test_correct` record of one model: per-image correctness keyed by the sorted image ids."""
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in np.asarray(ids).tolist()]
    correct = np.asarray(correct, bool)
    if len(ids) != len(correct):
        raise ValueError(f"{len(ids)} ids but {len(correct)} outcomes")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return {"n": len(ids), "ids_sha256": _ids_digest([ids[k] for k in order]),
            "bits": base64.b64encode(np.packbits(correct[order]).tobytes()).decode("ascii")}


def unpack_correct(record):
    """The boolean correctness array of a `test_correct` record, in sorted-id order."""
    bits = np.unpackbits(np.frombuffer(base64.b64decode(record["bits"]), np.uint8))
    return bits[: record["n"]].astype(bool)


def speaker_record(speakers, refs, hyps):
    """The `test_speaker_totals` record of one decoded test set (one utterance per entry)."""
    return totals_record(*stats.speaker_totals(speakers, refs, hyps))


def totals_record(totals, names):
    """The `test_speaker_totals` record of `stats.speaker_totals`' output (totals, speaker names)."""
    return {"speakers": " ".join(names), "errors": " ".join(str(int(x)) for x in totals[:, 0]),
            "phones": " ".join(str(int(x)) for x in totals[:, 1])}


def paired_difference(base, other):
    """`other − base` and its paired 95% interval `(difference, low, high)` from two stored records.

    Both records are `test_correct` (accuracy: higher is better) or both `test_speaker_totals`
    (PER); `ValueError` when they are not of one kind or not of the same test set.
    """
    if "bits" in base and "bits" in other:
        if (base["n"], base["ids_sha256"]) != (other["n"], other["ids_sha256"]):
            raise ValueError("the two models were scored on different test images")
        diff, half = stats.paired_difference_ci95(unpack_correct(other), unpack_correct(base))
        return diff, diff - half, diff + half
    if "speakers" in base and "speakers" in other:
        if base["speakers"] != other["speakers"] or base["phones"] != other["phones"]:
            raise ValueError("the two systems were scored on different test utterances")
        return stats.per_difference_from_totals(_totals(other), _totals(base))
    raise ValueError("records of different kinds (image correctness and speaker totals)")


def _totals(record):
    return np.stack([np.array(record[key].split(), np.float64) for key in ("errors", "phones")], 1)


def _ids_digest(sorted_ids):
    return hashlib.sha256("\n".join(sorted_ids).encode()).hexdigest()
