"""Keras models: deep teachers, ensembles and shallow mimics. Outputs are logits."""
