"""Training one fold: windows and partitions, fit / predict / extract knowledge, the fold's data and
its run-folder layout, and pretraining the face backbone."""
