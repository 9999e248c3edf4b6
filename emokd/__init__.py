"""emokd: visual-to-EEG cross-modal knowledge distillation for continuous emotion recognition.

A teaching package that reproduces Zhang, Tang and Guan (Pattern Recognition 130:108833,
2022) on MAHNOB-HCI: a visual teacher (CNN + TCN on face frames) predicts continuous
valence and its temporal features are distilled into an EEG student (TCN on band power).

Modules, in the order data flows through them:

- ``config``     frozen configurations and named presets (smoke, book, paper)
- ``synthetic``  a MAHNOB-HCI-like dataset with a planted ground truth (uses ``simeeg``,
  ``faces``, ``bdf``)
- ``mahnob``     read one session of the MAHNOB-HCI layout (BDF via MNE, labels, frames;
  ``read_raw``: the recording as a typed MNE Raw with the stimulus annotated)
- ``montage``    the Biosemi-32 montage as MNE objects, built in this one place
- ``bandpower``  fast sliding-window relative band power (pure numpy)
- ``prepare``    prepare a whole dataset: per-trial arrays plus a manifest
- ``datasets``   partitions (LOSO, TRS), normalisation, windows, frame sampling
- ``models``     TCN, frame CNN, Teacher, Student, BiLSTM student (one contract; ``ir50``:
  the paper's face backbone)
- ``backbone``   the teacher's face CNN, pretrained once on identities of no data set and
  shipped; ``embeddings``: its per-frame embeddings, cached once per data set
- ``losses``     1 - CCC and the distillation terms; ``metrics``: CCC, PCC, RMSE
- ``train``      fit / predict / extract the teacher's knowledge / checkpoints
- ``experiment`` teacher -> knowledge -> student -> KD student over folds
- ``memory``     a worker gives what a fold freed back to the system (glibc's malloc_trim)
- ``stats``, ``report``  statistics over folds; tables and figures of a run
"""

import logging
import os

__version__ = "0.1.0"

from .errors import EmokdError  # noqa: E402

__all__ = ["EmokdError", "__version__"]

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
