"""Reading and preparing data: BDF files, MAHNOB-HCI sessions, the Biosemi-32 montage, the public
feature release, and ``prepare`` (a whole data set to per-trial arrays plus a manifest)."""
