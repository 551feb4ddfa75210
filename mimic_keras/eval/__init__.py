"""Evaluation: statistics, decoding and PER, one report loop over model roles, figures.

    stats.py            every interval (accuracies, frame accuracies, PERs, paired differences)
    per.py              edit distance, phone error rate, transcript files
    hmm.py              the phone-loop HMM, Viterbi decoding, decoder tuning
    utterances.py       a TIMIT model over whole utterances; one split scored end to end
    image_scoring.py    CIFAR-10 scoring: report columns, sweep rows, per-image correctness
    speech_scoring.py   TIMIT scoring: report columns (Table 1), sweep rows
    report.py           the report loop over model roles; report.json, report.md
    groups.py           what each group of a grouped hidden layer learns (mimic.groups); group_stats.py: its statistics
    figures.py          a run report's figures; sweep_figures.py: a sweep's
"""
