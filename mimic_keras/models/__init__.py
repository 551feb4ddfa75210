"""Keras models, one module for each kind; they take tensors and read no files. Outputs are logits.

    convnet.py          the CIFAR-10 convnet teacher
    speech_teachers.py  the TIMIT DNN / CNN frame-classifier teachers
    mimics.py           the shallow mimics and controls (both datasets)
    ensemble.py         teachers averaged into one
    layers.py           shared building blocks (image input, logits layer)
    summary.py          hidden-unit counts for results tables
"""
