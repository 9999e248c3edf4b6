"""The public MAHNOB-HCI feature release (Soleymani et al. 2016): fetch, verify, load.

The release that accompanies Soleymani, Asghari-Esfeden, Fu and Pantic (IEEE
Trans. Affective Computing 7(1):17-28, 2016) holds, for the 239 trials of 24
subjects with continuous valence labels, per-trial features at the 4 Hz label
rate. It lives in the GitHub repository ``soheilrayatdoost/ContinuousEmotionDetection``
(GPL-3.0, so emokd never ships it): ``data/lable_continous_Mahnob.mat`` and
``data/Features/P{s}-features-resamp4hz-trial-{t}.mat`` with

    target               (1, T)    valence, = 2 x the label file's trace
    eeg_band_feats_full  (T, 128)  EEG band power, band-major: 4 bands x 32 channels
    eeg_band_feats       (T, 85)   a reduced EEG set (layout undocumented; not used)
    face_feats           (T, 327)  facial features (groups: :data:`FACE_GROUPS`)
    gaze_feats           (T, 2)    gaze

The columns are not documented by the release. What the data show:

**EEG** (``eeg_band_feats_full``): column ``32 * b + c`` is band ``b`` of channel
``c``, with the bands in the order :data:`EEG_BANDS` (theta, alpha, beta, gamma)
and the channels in the Biosemi order of :data:`emokd.core.constants.EEG_CHANNELS`
(the order of the BDF files). Evidence (``tests/io/test_feature_columns.py``;
numbers and topographies: ``python studies/feature_columns.py``):

- read band-major, the four 32-column blocks have the same spatial profile
  (their column means correlate 0.63-0.97: the same electrodes are noisy in
  every band); read channel-major, the four "bands" correlate -0.10..0.69;
- read in the Biosemi order, every block is left-right symmetric: the mean of
  each left electrode vs its right homologue (Fp1-Fp2, ..., O1-O2, 14 pairs)
  correlates 0.93-0.99, against 0.69 for the 99.9th percentile of random
  channel orders; the channel-major reading gives -0.15..0.33;
- the band order: block 0 is larger than block 1 (1/f: theta above alpha) and
  has its maximum at Fp1/Fp2 (blinks and eye movements are slow); block 1 minus
  block 0 is highest posteriorly (alpha); T7/T8, over the temporal muscles, stand
  out more and more from block 0 to block 3 (z = 0.29, 0.51, 1.86, 2.23): blocks
  2 and 3 are the high bands, where muscle activity (EMG) dominates, 3 the most.

Values look like log band power (means 0.4-1.3, SD about 1, negative values
present). The band edges are not in the data; the 2016 paper's theta/alpha/beta/
gamma convention is the likely one. Soleymani et al. found that facial muscle
activity in these features carries much of their valence information, so an EEG
student here is partly an EMG student.

**Face** (``face_feats``): six groups with distinct statistics
(:data:`FACE_GROUPS`): 40 distances in pixels (left-right symmetric means,
consistent with the 40 eyebrow, eye and mouth points of a 49-point tracker
without the nose), the same 40 scaled, 80 zero-mean values, 80 small positive
values, 80 near-constant zero-mean values (SD ~0.01; motion), and 7 pose-like
values (four of them +-0.97 correlated, as cosines and sines of head angles).
Frames where the tracker lost the face hold values near 0.

:func:`load_feature_release` reads a local folder (either ``Features/`` or
``features/`` next to the label file, float64 originals or float32 copies) or,
with ``fetch=True``, downloads the files once with pooch into a cache, checking
each against the published SHA-256 (``emokd/data/mahnob_features_sha256.txt``).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import numpy as np

from ..core.constants import EEG_CHANNELS, FEATURE_RELEASE_BANDS
from ..errors import EmokdError
from .mahnob import LABEL_FILE, load_mat, read_labels
from .prepare import trial_key

log = logging.getLogger(__name__)

REPO = "soheilrayatdoost/ContinuousEmotionDetection"
COMMIT = "cb54a96240ceaa16c82b3e4c165e327175adbce3"
BASE_URL = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/data/"
#: the four blocks of ``eeg_band_feats_full``, in column order (inferred; see above)
EEG_BANDS: tuple[str, ...] = FEATURE_RELEASE_BANDS
#: column ranges of ``face_feats`` by their statistics (inferred; see above)
FACE_GROUPS: dict[str, slice] = {"distances_px": slice(0, 40), "distances_scaled": slice(40, 80),
                                 "centred_80": slice(80, 160), "positive_80": slice(160, 240),
                                 "motion_80": slice(240, 320), "pose_7": slice(320, 327)}
#: fields of a feature file -> number of columns (None: a (1, T) row)
FIELDS: dict[str, int | None] = {"target": None, "eeg_band_feats_full": 128, "eeg_band_feats": 85,
                                 "face_feats": 327, "gaze_feats": 2}


def eeg_column_names() -> list[str]:
    """The 128 EEG columns as ``"<band>_<channel>"``, e.g. ``"alpha_O1"`` (band-major)."""
    return [f"{band}_{ch}" for band in EEG_BANDS for ch in EEG_CHANNELS]


def eeg_band_channel(eeg: np.ndarray) -> np.ndarray:
    """(n_steps, 128) release EEG features -> (n_steps, 4 bands, 32 channels).

    Bands as :data:`EEG_BANDS`, channels as :data:`emokd.core.constants.EEG_CHANNELS`.
    """
    eeg = np.asarray(eeg)
    if eeg.ndim != 2 or eeg.shape[1] != len(EEG_BANDS) * len(EEG_CHANNELS):
        raise EmokdError(f"eeg: expected shape (n_steps, {len(EEG_BANDS) * len(EEG_CHANNELS)}), got {eeg.shape}")
    return eeg.reshape(len(eeg), len(EEG_BANDS), len(EEG_CHANNELS))


def feature_file_name(subject: int, trial_no: int) -> str:
    """``P{s}-features-resamp4hz-trial-{t}.mat`` (no zero padding, as published)."""
    return f"P{subject}-features-resamp4hz-trial-{trial_no}.mat"


def published_sha256() -> dict[str, str]:
    """Path relative to ``data/`` -> SHA-256 of the published file (240 files)."""
    text = resources.files("emokd").joinpath("data/mahnob_features_sha256.txt").read_text()
    sums = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            sums[name] = digest
    return sums


def find_feature_file(root: Path, subject: int, trial_no: int) -> Path:
    name = feature_file_name(subject, trial_no)
    upper, lower = root / "Features", root / "features"
    # on a case-sensitive file system both can exist: taking each trial from whichever holds it would mix
    # two copies of the release (on a case-insensitive one they are the same folder)
    if upper.is_dir() and lower.is_dir() and not upper.samefile(lower):
        raise EmokdError(f"{root}: holds both {upper.name}/ and {lower.name}/; keep the one feature folder "
                         "to read and move the other away")
    for sub in ("Features", "features", "."):
        path = root / sub / name
        if path.is_file():
            return path
    raise EmokdError(f"{root}: feature file {name} not found in Features/, features/ or the folder itself")


def read_feature_file(path) -> dict[str, np.ndarray]:
    """One trial's features, checked.

    Returns
    -------
    features : dict
        ``target`` (T,) and ``eeg_band_feats_full`` (T, 128), ``eeg_band_feats``
        (T, 85), ``face_feats`` (T, 327), ``gaze_feats`` (T, 2), all float32.
    """
    path = Path(path)
    try:
        mat = load_mat(path)  # each array in its MATLAB class (a logical array is bool)
    except Exception as err:  # scipy raises several types for a bad file
        raise EmokdError(f"{path}: not a readable MATLAB file ({err})") from None
    out = {}
    for name, n_cols in FIELDS.items():
        if name not in mat:
            raise EmokdError(f"{path}: field {name!r} is missing")
        a = np.asarray(mat[name])
        if n_cols is None:
            if a.ndim != 2 or a.shape[0] != 1:
                raise EmokdError(f"{path}: field {name!r} has shape {a.shape}, expected (1, T)")
            a = a[0]
        elif a.ndim != 2 or a.shape[1] != n_cols:
            raise EmokdError(f"{path}: field {name!r} has shape {a.shape}, expected (T, {n_cols})")
        if a.dtype.kind not in "iuf":  # astype(float32) would drop an imaginary part, or read booleans as 0/1
            raise EmokdError(f"{path}: field {name!r} is {a.dtype}, expected real numbers")
        if not np.all(np.isfinite(a)):
            raise EmokdError(f"{path}: field {name!r} contains NaN or inf")
        out[name] = a.astype(np.float32)
    n = out["target"].size
    bad = {k: v.shape[0] for k, v in out.items() if v.shape[0] != n}
    if bad:
        raise EmokdError(f"{path}: fields have {bad} rows but 'target' has {n}")
    return out


def fetch_feature_release(cache_dir=None, *, progress: bool = True) -> Path:
    """Download the release once (pooch; SHA-256 checked) and return its folder.

    ``cache_dir`` defaults to pooch's per-user cache (``emokd-mahnob-features``).
    Raises EmokdError with what to do when the network is not reachable.
    """
    import pooch

    sums = published_sha256()
    cache = Path(cache_dir) if cache_dir else Path(pooch.os_cache("emokd-mahnob-features"))
    fetcher = pooch.create(path=cache, base_url=BASE_URL, registry={k: f"sha256:{v}" for k, v in sums.items()})
    names = list(sums)
    try:
        for i, name in enumerate(names):
            fetcher.fetch(name, progressbar=False)
            if progress and (i + 1) % 40 == 0:
                log.info("fetched %d/%d files", i + 1, len(names))
    except ValueError as err:  # pooch: checksum mismatch
        raise EmokdError(f"{BASE_URL}: a downloaded file does not match its published SHA-256 ({err})") from None
    except Exception as err:  # requests/urllib errors when offline
        raise EmokdError(
            f"cannot download the MAHNOB-HCI feature release from {BASE_URL} ({type(err).__name__}: {err}). "
            "Offline? Download it on a connected machine (or clone the repository) and pass the local "
            "folder that holds lable_continous_Mahnob.mat and Features/."
        ) from None
    return cache


def load_feature_release(root=None, *, fetch: bool = False, cache_dir=None) -> list[dict]:
    """Every labelled trial of the release, in label-file order.

    Parameters
    ----------
    root : path, optional
        A local folder with ``lable_continous_Mahnob.mat`` and the feature files.
    fetch : bool
        Without ``root``: download the release (see :func:`fetch_feature_release`).

    Returns
    -------
    trials : list of dict
        ``key`` ("P01_T10"), ``subject``, ``trial_no``, ``valence`` (T,) float32 from
        the label file, ``target`` (T,) = 2 x valence as published, ``eeg``
        (T, 128), ``eeg85`` (T, 85), ``face`` (T, 327), ``gaze`` (T, 2), ``source``.
    """
    if root is None:
        if not fetch:
            raise EmokdError("give the folder of the MAHNOB-HCI feature release, or fetch=True to download it")
        root = fetch_feature_release(cache_dir)
    root = Path(root)
    labels = read_labels(root / LABEL_FILE)
    trials = []
    for (subject, trial_no), valence in labels.items():
        path = find_feature_file(root, subject, trial_no)
        f = read_feature_file(path)
        if f["target"].size != valence.size:
            raise EmokdError(f"{path}: 'target' has {f['target'].size} steps but the label file has "
                             f"{valence.size} for subject {subject} trial {trial_no}")
        # In the release, target is exactly 2 x the label trace (float32 rounding aside): a file that does
        # not match belongs to another trial (swapped or renamed) or was altered
        if not np.allclose(f["target"], 2 * valence, rtol=1e-6, atol=1e-6):
            i = int(np.argmax(np.abs(f["target"] - 2 * valence)))
            raise EmokdError(f"{path}: field 'target' is not 2 x the label file's trace of subject {subject} trial "
                             f"{trial_no} (step {i}: {f['target'][i]:.6g} vs 2 x {valence[i]:.6g}); swapped or "
                             "altered file?")
        trials.append({"key": trial_key(subject, trial_no), "subject": subject, "trial_no": trial_no,
                       "valence": valence.astype(np.float32), "target": f["target"],
                       "eeg": f["eeg_band_feats_full"], "eeg85": f["eeg_band_feats"], "face": f["face_feats"],
                       "gaze": f["gaze_feats"], "source": str(path)})
    return trials
