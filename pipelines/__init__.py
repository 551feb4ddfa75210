"""Offline jobs that turn raw data (and teacher logits) into TFRecords."""
