"""Signal processing, numpy in and numpy out: sliding-window EEG band power."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.signal import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["bandpower"]
