"""Phone error rate (PER): edit distance of folded phone transcripts, and the transcript files.

Hypotheses and references are 39-class phone sequences (`phones.fold`: `q` removed, repeats
merged). `write_transcripts` writes them as `<utt-id> ph ph ...` lines so that an external
scorer (e.g. NIST sclite) can recompute the PER; `read_scored` reads a scored pair back.
"""

import os

import numpy as np


def edit_distance(ref, hyp):
    """Minimum edit operations turning `ref` into `hyp`.

    Returns:
        `(substitutions, deletions, insertions)` of one minimal alignment.

    Example:
        >>> edit_distance("a b c".split(), "a x c d".split())
        (1, 0, 1)
    """
    n, m = len(ref), len(hyp)
    # cost[i][j] = (errors, subs, dels, ins) for ref[:i] vs hyp[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            d = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                diag = d
            else:
                diag = (d[0] + 1, d[1] + 1, d[2], d[3])
            up = prev[j]
            left = cur[j - 1]
            cur.append(min(diag, (up[0] + 1, up[1], up[2] + 1, up[3]), (left[0] + 1, left[1], left[2], left[3] + 1)))
        prev = cur
    _, s, d, i = prev[m]
    return s, d, i


def error_counts(refs, hyps):
    """Substitutions, deletions, insertions and reference length summed over utterances."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    total = np.zeros(3, np.int64)
    for r, h in zip(refs, hyps):
        total += edit_distance(list(r), list(h))
    ref_len = sum(len(r) for r in refs)
    return {"substitutions": int(total[0]), "deletions": int(total[1]), "insertions": int(total[2]),
            "errors": int(total.sum()), "reference_phones": ref_len}


def phone_error_rate(refs, hyps):
    """PER as a fraction: edit distance summed over utterances / reference phones.

    Args:
        refs, hyps: sequences of token sequences (already folded; see `phones.fold`).

    Example:
        >>> phone_error_rate([["sil", "b", "sil"]], [["sil", "p", "sil", "k"]])
        0.6666666666666666
    """
    return error_rate(error_counts(refs, hyps))


def error_rate(counts):
    """The PER of `error_counts`: errors / reference phones (0 for no reference phones)."""
    return counts["errors"] / max(counts["reference_phones"], 1)


def read_transcripts(path):
    """(ids, phone sequences) of a `write_transcripts` file."""
    ids, seqs = [], []
    with open(path) as f:
        for line in f:
            uid, *tokens = line.split()
            ids.append(uid)
            seqs.append(tokens)
    return ids, seqs


def write_transcripts(path, ids, transcripts):
    """Writes `<utt-id> ph ph ...` lines."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        for uid, tokens in zip(ids, transcripts):
            f.write(" ".join([uid, *tokens]) + "\n")



def scored_paths(folder, split):
    """`{"ref": folder/{split}.ref.txt, "hyp": folder/{split}.hyp.txt}`: where `write_scored` writes."""
    return {kind: os.path.join(folder, f"{split}.{kind}.txt") for kind in ("ref", "hyp")}


def write_scored(folder, split, ids, refs, hyps):
    """Writes `folder/{split}.ref.txt` and `.hyp.txt` (`write_transcripts`), what `read_scored` reads.

    Returns:
        The paths written, `{"ref": ..., "hyp": ...}`.
    """
    paths = scored_paths(folder, split)
    write_transcripts(paths["ref"], ids, refs)
    write_transcripts(paths["hyp"], ids, hyps)
    return paths


def read_scored(folder, split="test"):
    """(speakers, references, hypotheses) of the transcripts an evaluation wrote in `folder`.

    Reads `folder/{split}.ref.txt` and `.hyp.txt` (`write_scored`); the speaker is the
    utterance id's prefix (`FELC0_SI643` → `FELC0`).

    Raises:
        ValueError: the two files list different utterances.
    """
    ref_ids, refs = read_transcripts(os.path.join(folder, f"{split}.ref.txt"))
    hyp_ids, hyps = read_transcripts(os.path.join(folder, f"{split}.hyp.txt"))
    if ref_ids != hyp_ids:
        raise ValueError(f"{folder}: reference and hypothesis utterances differ")
    return [uid.split("_")[0] for uid in ref_ids], refs, hyps
