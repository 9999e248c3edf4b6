"""Saliency: attributions of a student, their aggregation, the saliency of a run, figures, the explorer."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.saliency import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["attribution", "aggregation", "run", "figures", "explorer"]
