"""The bottom layer: constants (channels, bands), frozen configurations and presets, atomic file writing,
locks, memory and thread control, the device, the metrics (CCC, PCC, RMSE). Imports nothing above it."""
