"""Synthetic data: EEG with a planted ground truth, rendered faces, whole MAHNOB-like data sets."""
