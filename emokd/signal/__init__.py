"""Signal processing, numpy in and numpy out: sliding-window EEG band power."""
