"""Training one fold: windows and partitions, fit / predict / extract knowledge, the fold's data, its
regimes (scarce labels, calibration) and hand-overs, its run-folder layout, and pretraining the face backbone."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.training import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["datasets", "train", "folddata", "regimes", "handover", "runs", "runfolder", "fold", "pretraining"]
