"""Analyses that read trained models and never train: token cosine, agreement, attention, timing."""
