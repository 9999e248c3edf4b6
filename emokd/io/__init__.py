"""Reading and preparing data: BDF files, MAHNOB-HCI sessions, the Biosemi-32 montage, the public
feature release, the frontal camera to aligned face frames (``video``, ``faces_align``, ``facevideo``,
``gaze``; the ``video`` extra, see ``extras``), and ``prepare`` (a whole data set to per-trial arrays
plus a manifest)."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.io import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["bdf", "montage", "mahnob", "features", "extras", "video", "faces_align", "gaze", "facevideo", "prepare"]
