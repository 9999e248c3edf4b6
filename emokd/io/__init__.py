"""Reading and preparing data: BDF files, MAHNOB-HCI sessions, the Biosemi-32 montage, the public
feature release, the frontal camera to aligned face frames (``video``, ``faces_align``, ``facevideo``,
``gaze``; the ``video`` extra, see ``extras``), and ``prepare`` (a whole data set to per-trial arrays
plus a manifest)."""
