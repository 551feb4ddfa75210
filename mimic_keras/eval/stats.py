"""Every interval of the reports: accuracies, frame accuracies, PERs, and paired differences.

Each interval's unit of resampling is what is independent: images for CIFAR-10 accuracies,
utterances for TIMIT frame accuracies (frames of one utterance move together), and speakers
for PERs (utterances of one speaker share a voice and a channel). The paired forms compare
two models on the same examples, leaving out the spread both share.
"""

import numpy as np

from mimic_keras.eval.per import edit_distance


def accuracy_ci95(correct):
    """Half-width of the 95% normal-approximation interval of an accuracy.

    Args:
        correct: one boolean per example.

    Returns:
        The half-width, a fraction.
    """
    p = float(np.mean(correct))
    return 1.96 * float(np.sqrt(p * (1.0 - p) / len(correct)))


def paired_difference_ci95(correct_a, correct_b):
    """Accuracy of A minus accuracy of B on the same examples, and its 95% interval's half-width.

    Paired: the interval comes from the per-example differences (only the examples the two
    models disagree on vary), so it is much narrower than two separate intervals when the
    models are right on mostly the same examples.

    Args:
        correct_a, correct_b: one boolean per example, in the same order.

    Returns:
        `(difference, half_width)`.

    Raises:
        ValueError: fewer than two examples.
    """
    d = np.asarray(correct_a, np.float64) - np.asarray(correct_b, np.float64)
    if d.shape[0] < 2:
        raise ValueError("need two or more paired examples")
    return float(d.mean()), 1.96 * float(d.std(ddof=1) / np.sqrt(d.shape[0]))


def frame_accuracy_ci95(correct):
    """Half-width of the 95% interval of a frame accuracy, each utterance one cluster of frames.

    Frames of one utterance are not independent: the variance is that of a ratio estimate over
    utterances, Σ (c_i - p n_i)² / (Σ n_i)² × m / (m - 1), for m utterances of n_i frames, c_i
    of them correct.

    Args:
        correct: one boolean array per utterance.

    Returns:
        The half-width, a fraction; NaN for fewer than two utterances.
    """
    c = np.array([np.sum(x) for x in correct], np.float64)
    n = np.array([len(x) for x in correct], np.float64)
    m = len(n)
    if m < 2:
        return float("nan")
    p = c.sum() / n.sum()
    return 1.96 * float(np.sqrt(np.sum((c - p * n) ** 2) / n.sum() ** 2 * m / (m - 1)))


def _draws(num_speakers, samples, seed):
    """`samples` resamples of speaker indices, with replacement (the same for a seed and a count)."""
    return np.random.default_rng(seed).integers(0, num_speakers, size=(samples, num_speakers))


def per_difference_bootstrap_ci95(refs, hyps_a, hyps_b, speakers, samples=2000, seed=0):
    """PER of A minus PER of B on the same utterances, with a paired speaker-bootstrap 95% interval.

    Both systems' PERs are computed on the same resampled speakers in every draw, so the
    interval of the difference is free of the between-speaker spread both share.

    Returns:
        `(difference, low, high)`.
    """
    (a, _), (b, _) = (speaker_totals(speakers, refs, h) for h in (hyps_a, hyps_b))
    return per_difference_from_totals(a, b, samples, seed)


def per_difference_from_totals(totals_a, totals_b, samples=2000, seed=0):
    """`per_difference_bootstrap_ci95` from per-speaker totals alone (the same draws, the same result).

    Args:
        totals_a, totals_b: `[speakers, 2]` arrays of (edit operations, reference phones), one
            row per test speaker in sorted name order, the same speakers in both.
    """
    a, b = np.asarray(totals_a, np.float64), np.asarray(totals_b, np.float64)
    draws = _draws(len(a), samples, seed)
    ta, tb = a[draws].sum(axis=1), b[draws].sum(axis=1)
    diffs = ta[:, 0] / np.maximum(ta[:, 1], 1) - tb[:, 0] / np.maximum(tb[:, 1], 1)
    point = a[:, 0].sum() / max(a[:, 1].sum(), 1) - b[:, 0].sum() / max(b[:, 1].sum(), 1)
    return float(point), float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def speaker_totals(speakers, refs, hyps):
    """Per test speaker (sorted by name): `[speakers, 2]` (edit operations, reference phones), and the names."""
    names, index = np.unique(np.asarray(speakers), return_inverse=True)
    edits = np.array([sum(edit_distance(list(r), list(h))) for r, h in zip(refs, hyps)], np.float64)
    lengths = np.array([len(r) for r in refs], np.float64)
    totals = np.stack([np.bincount(index, edits, len(names)), np.bincount(index, lengths, len(names))], 1)
    return totals, names.tolist()


def per_bootstrap_ci95(refs, hyps, speakers, samples=2000, seed=0):
    """95% percentile interval (low, high) of the PER, resampling test speakers with replacement.

    Utterances of one speaker are not independent (same voice, same channel): the unit of
    resampling is the speaker, each drawn with all of its utterances.

    Args:
        refs, hyps: folded phone sequences per utterance.
        speakers: the speaker of each utterance.
        samples: bootstrap resamples.
        seed: for the resampling.
    """
    totals, _ = speaker_totals(speakers, refs, hyps)
    return per_ci95_from_totals(totals, samples, seed)


def per_ci95_from_totals(totals, samples=2000, seed=0):
    """`per_bootstrap_ci95` from per-speaker totals alone (`speaker_totals`: the same draws, the same result)."""
    totals = np.asarray(totals, np.float64)
    sums = totals[_draws(len(totals), samples, seed)].sum(axis=1)
    rates = sums[:, 0] / np.maximum(sums[:, 1], 1)
    return float(np.percentile(rates, 2.5)), float(np.percentile(rates, 97.5))


def agreement(logits_a, logits_b):
    """Fraction of examples (rows) on which two models' argmax classes agree."""
    return float(np.mean(np.asarray(logits_a).argmax(-1) == np.asarray(logits_b).argmax(-1)))
