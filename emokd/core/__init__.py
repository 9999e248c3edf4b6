"""The bottom layer: constants (channels, bands), frozen configurations and presets, atomic file writing,
locks, memory and thread control, the device, the metrics (CCC, PCC, RMSE), Markdown tables, the figure
style. Imports nothing above it."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.core import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["constants", "config", "fileio", "locks", "memory", "threads", "device", "metrics", "permutation", "tables",
           "style"]
