"""Evaluating over folds: the experiment, linear references, statistics, collections of runs,
reports, a Dask cluster for the folds."""
