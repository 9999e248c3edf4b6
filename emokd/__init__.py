"""emokd: visual-to-EEG cross-modal knowledge distillation for continuous emotion recognition.

A teaching package that reproduces Zhang, Tang and Guan (Pattern Recognition 130:108833,
2022) on MAHNOB-HCI: a visual teacher (CNN + TCN on face frames) predicts continuous
valence and its temporal features are distilled into an EEG student (TCN on band power).

Subpackages by layer, bottom up; a module imports only from its own subpackage or from one
listed before it (``tests/test_layers.py`` checks it):

- ``core``        ``constants`` (channels, bands), ``config`` (frozen configurations and the named
  presets smoke, book, paper), ``fileio`` (atomic writes), ``locks``, ``memory`` (a worker gives
  what a fold freed back), ``threads`` (one CPU thread per fold), ``device``, ``metrics`` (CCC,
  PCC, RMSE), ``permutation`` (label traces permuted among each subject's trials), ``tables``
  (a DataFrame as a Markdown table), ``style`` (one colour per model, the house figure style)
- ``signal``      ``bandpower``: fast sliding-window relative band power (pure numpy)
- ``io``          ``bdf``, ``montage`` (the Biosemi-32 montage as MNE objects), ``mahnob`` (one
  MAHNOB-HCI session: BDF via MNE, labels, frames), ``features`` (the public feature release),
  ``video``, ``faces_align``, ``facevideo``, ``gaze``, ``extras`` (the frontal camera to aligned
  face frames at 64 fps), ``prepare`` (a whole data set: per-trial arrays plus a manifest)
- ``synth``       ``simeeg``, ``faces``, ``synthetic``: a MAHNOB-HCI-like data set with a planted
  ground truth; ``videoclip``: a real photograph as a camera clip with known motion
- ``nn``          ``models`` (TCN, frame CNN, Teacher, Student, BiLSTM student: one contract),
  ``ir50`` (the paper's face backbone), ``backbone`` (loading the shipped face CNN),
  ``embeddings`` (its per-frame embeddings, cached once per data set), ``losses`` (1 - CCC and
  the distillation terms)
- ``training``    ``datasets`` (partitions, normalisation, windows, frame sampling), ``train``
  (fit / predict / extract the teacher's knowledge / checkpoints), ``folddata``, ``regimes`` (scarce
  labels, a new person's calibration), ``handover`` (what a teacher hands over, and its controls),
  ``runs`` and ``runfolder`` (the run folder), ``fold`` (one fold: teacher -> knowledge -> student
  -> KD students), ``pretraining`` (the face backbone, pretrained once on identities of no data set)
- ``evaluation``  ``experiment`` (every fold), ``linear`` (ridge references), ``stats``,
  ``selection`` (a training budget chosen on validation logs), ``report``, ``collection`` (runs
  compared), ``comparators`` (published numbers beside ours), ``cluster`` (folds on Dask)
- ``saliency``    ``attribution``, ``aggregation``, ``run`` (the saliency of a run), ``figures``,
  ``explorer``
- ``teaching``    ``book`` (what the chapters share), ``exercises``, ``playgrounds``,
  ``playgrounds_html``, ``scarce_labels`` (chapter 05c's playground)

Each subpackage's ``__all__`` lists its modules (``tests/test_api.py`` holds this map, the README's and
the folders to agree). ``emokd.errors`` (``EmokdError``) lies below every layer, ``emokd.__main__`` (the
command line) above them; ``emokd/data`` holds the shipped face backbone, ``emokd/teaching/static`` and
``emokd/saliency/static`` the CSS and JavaScript of the HTML fragments.
"""

import logging
import os

__version__ = "0.1.0"

from .errors import EmokdError  # noqa: E402

__all__ = ["EmokdError", "LAYERS", "__version__"]

#: the subpackages by layer, bottom up: a module imports only from its own subpackage or from one listed
#: before it (tests/test_layers.py); each one's ``__all__`` names its modules
LAYERS = ("core", "signal", "io", "synth", "nn", "training", "evaluation", "saliency", "teaching")

#: ``python -m emokd --verbose`` sets this variable to ``INFO`` so that the processes
#: joblib starts for the folds (which import emokd afresh) log emokd's progress too
LOG_LEVEL_ENV = "EMOKD_LOG_LEVEL"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

if os.environ.get(LOG_LEVEL_ENV):
    if isinstance(logging.getLevelName(os.environ[LOG_LEVEL_ENV].upper()), int):
        logging.basicConfig(format=LOG_FORMAT)  # a handler on stderr, only where there is none yet
        logging.getLogger(__name__).setLevel(os.environ[LOG_LEVEL_ENV].upper())
    else:  # a typo must not make `import emokd` fail
        import warnings

        warnings.warn(f"{LOG_LEVEL_ENV}={os.environ[LOG_LEVEL_ENV]!r} is not a logging level (e.g. INFO); ignored",
                      stacklevel=2)
