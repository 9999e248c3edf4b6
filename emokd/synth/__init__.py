"""Synthetic data: EEG with a planted ground truth, rendered faces, whole MAHNOB-like data sets."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.synth import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["simeeg", "faces", "synthetic", "videoclip"]
