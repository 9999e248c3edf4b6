"""Evaluating over folds: the experiment, linear references, statistics, choosing a budget on validation,
collections of runs, published comparators beside them, reports, a Dask cluster for the folds."""

#: the layer's public modules, in reading order (each module's public names are those without a leading
#: underscore); ``from emokd.evaluation import *`` imports them. tests/test_api.py checks this list against
#: the folder, the README's module map and emokd's docstring.
__all__ = ["experiment", "linear", "stats", "selection", "report", "collection", "comparators", "cluster"]
