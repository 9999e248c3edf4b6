"""Read one MAHNOB-HCI session (synthetic or a real copy) into aligned arrays.

The layout of the database (Soleymani et al. 2012)::

    ROOT/lable_continous_Mahnob.mat        public continuous valence (Soleymani et al. 2016)
    ROOT/Sessions/<id>/session.xml          id = (subject - 1) * 130 + trial_no
    ROOT/Sessions/<id>/Part_<s>_S_Trial<trial_no/2>_emotion.bdf
    ROOT/Sessions/<id>/face_frames.npz      optional: frames uint8 (n, 48, 48) or (n, 48, 48, 3) RGB from
                                            stimulus start, fps

``face_frames.npz`` is emokd's format for face crops. The synthetic data has grey ones; for a
real copy, ``python -m emokd prepare`` makes colour ones from the frontal camera
(:mod:`emokd.io.facevideo`, the ``video`` extra), or you save your own face tracker's 48x48 crops
of the stimulus period in it. Colour crops are read as grey (:func:`read_frames`: ITU-R BT.601
luma), because emokd's teachers take one channel: the frame CNN and its shipped backbone were
trained on grey synthetic faces, and the paper's ResNet50-IR (``cnn="ir50"``) gets the grey frame
repeated on its three channels. The colour stays in ``face_frames.npz``.
Without it a trial is prepared with EEG and labels only.

The recipe: find stimulus start and end from the two rising edges of Status;
crop [start - 1 s, end + 5 s]; band-pass 0.3-45 Hz; average reference; relative
band power in 2 s windows every 0.25 s, so window k is centred on start + k / 4 s,
the time of label step k. The paper's released code never reads Status: it crops
at fixed times, [29 s, end of the recording - 25 s], which is the same interval
when the database's 30 s margins hold exactly; emokd reads the edges so that a
recording whose margins differ is aligned to its stimulus (and one whose Status
does not have two edges is reported, not silently misaligned).
"""

from __future__ import annotations

import logging
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import scipy.io

from . import montage
from ..signal.bandpower import band_power
from .bdf import check_bdf_header, check_ranges
from ..core.constants import EEG_CHANNELS
from ..core.config import PrepareConfig
from ..errors import EmokdError

log = logging.getLogger(__name__)

LABEL_FILE = "lable_continous_Mahnob.mat"  # sic: the public file's name
FRAMES_FILE = "face_frames.npz"
#: synthetic datasets only: the latent valence the signals follow (the label file holds its annotation)
LATENT_FILE = "latent_valence.npz"
#: synthetic datasets only: the latent valence of the sessions without a label row, for scoring only
UNLABELLED_LATENT_FILE = "latent_valence_unlabelled.npz"
#: |valence| above this is not on MAHNOB-HCI's continuous scale (the public traces stay within +-0.46)
MAX_ABS_VALENCE = 1.0
#: |EEG| above this (V) is beyond any EEG amplifier (Biosemi ActiveTwo: +-0.262 V)
MAX_EEG_V = 1.0
#: side of the face crops in face_frames.npz (px); the teachers crop 40 x 40 of them
FRAME_SIZE = 48
#: the face frames may last this fraction of the stimulus (or 1 s) more or less than the stimulus
FRAMES_SLACK = 0.1
#: bad_segments: no change above this (V) between samples for FLAT_MIN_S (s) is flat; a change of
#: JUMP_V (V) or more is a jump (random bytes, a channel at its rails)
FLAT_V, FLAT_MIN_S, JUMP_V = 1e-12, 1.0, 0.05
STATUS_MASK = 0xFFFF  # Biosemi trigger bits; bits 16-23 carry system status
#: sessions of the database that were released without EEG (no BDF file; noted by public loaders)
SESSIONS_WITHOUT_EEG = (1854, 1984)
#: ITU-R BT.601 luma weights (R, G, B): how a colour face frame becomes the grey one the teachers read
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def session_id(subject: int, trial_no: int) -> int:
    """Session folder number of a trial in MAHNOB-HCI: (subject - 1) * 130 + trial_no."""
    return (int(subject) - 1) * 130 + int(trial_no)


def session_dir(root, subject: int, trial_no: int) -> Path:
    """``ROOT/Sessions/<session_id(subject, trial_no)>``."""
    return Path(root) / "Sessions" / str(session_id(subject, trial_no))


def bdf_name(subject: int, trial_no: int) -> str:
    """File name of a trial's BDF recording, e.g. ``Part_1_S_Trial1_emotion.bdf`` for trial_no 2."""
    return f"Part_{subject}_S_Trial{trial_no // 2}_emotion.bdf"


def load_mat(path) -> dict:
    """:func:`scipy.io.loadmat` with each array in its MATLAB class, so that a logical array is bool
    (not the uint8 it is stored as) and a complex one stays complex, for the caller to refuse.

    ``mat_dtype=True`` gives the classes but casts a complex array to real (a ComplexWarning);
    such a file is read again without it.
    """
    complex_warning = getattr(np, "exceptions", np).ComplexWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error", complex_warning)
        try:
            return scipy.io.loadmat(path, mat_dtype=True)
        except complex_warning:
            pass
    return scipy.io.loadmat(path)


def read_labels(path) -> dict[tuple[int, int], np.ndarray]:
    """Continuous valence traces from a ``lable_continous_Mahnob.mat`` file.

    Returns
    -------
    labels : dict
        ``(subject, trial_no) -> valence``, each an ndarray of shape (n_steps,)
        at 4 Hz, in the file's order.
    """
    path = Path(path)
    if not path.is_file():
        raise EmokdError(f"{path}: label file not found")
    try:
        mat = load_mat(path)
    except Exception as err:  # scipy raises several types for a bad file
        raise EmokdError(f"{path}: not a readable MATLAB file ({err})") from None
    for key in ("trials_included", "labels"):
        if key not in mat:
            raise EmokdError(f"{path}: field {key!r} is missing (found {sorted(k for k in mat if not k.startswith('__'))})")
    included, cells = np.asarray(mat["trials_included"]), np.asarray(mat["labels"], dtype=object)
    if included.ndim != 2 or included.shape[1] != 2:
        raise EmokdError(f"{path}: field 'trials_included' has shape {included.shape}, expected (n, 2)")
    # astype(int) would read 10.7 as trial 10 (and True or 1+0j as 1): only whole numbers >= 1 are ids
    ids = included.ravel()
    bad = ids if ids.dtype.kind not in "iuf" else ids[~(np.isfinite(ids) & (ids == np.round(ids)) & (ids >= 1))]
    if bad.size:
        raise EmokdError(f"{path}: field 'trials_included' holds {bad[0]} ({included.dtype}), expected "
                         "whole numbers >= 1 (subject, trial_no)")
    if cells.size != included.shape[0]:
        raise EmokdError(f"{path}: field 'labels' has {cells.size} traces for {included.shape[0]} trials")
    out = {}
    for (subject, trial_no), cell in zip(included.astype(int), cells.ravel()):
        key = (int(subject), int(trial_no))
        trace = _label_trace(cell, path, key)
        if not np.all(np.isfinite(trace)):
            raise EmokdError(f"{path}: field 'labels', trace of subject {key[0]} trial {key[1]} is not finite")
        if np.abs(trace).max() > MAX_ABS_VALENCE:
            raise EmokdError(f"{path}: field 'labels', trace of subject {key[0]} trial {key[1]} reaches "
                             f"{trace[np.argmax(np.abs(trace))]:.6g}, outside the valence scale "
                             f"[-{MAX_ABS_VALENCE:g}, {MAX_ABS_VALENCE:g}]")
        if key in out:
            raise EmokdError(f"{path}: field 'trials_included' lists subject {key[0]} trial {key[1]} twice")
        out[key] = trace
    return out


def _label_trace(cell, path: Path, key: tuple[int, int]) -> np.ndarray:
    """One cell of the label file's ``labels`` as a trace of shape (n_steps,), float64.

    A trace is a row (1, T), a column (T, 1) or a vector (T,) of real numbers; anything
    else is refused rather than flattened or cast: a (T, 2) cell would interleave two
    columns into a misaligned trace of 2T steps, and a complex, boolean, text or nested
    cell is not a valence trace.
    """
    where = f"{path}: field 'labels', trace of subject {key[0]} trial {key[1]}"
    a = np.asarray(cell)
    if a.dtype.kind not in "iuf":
        what = {"O": "a nested cell", "U": "text", "S": "text", "b": "booleans", "c": "complex numbers"}
        raise EmokdError(f"{where} holds {what.get(a.dtype.kind, a.dtype)} ({a.dtype}, shape {a.shape}), "
                         "expected real numbers")
    if a.size == 0:
        raise EmokdError(f"{where} is empty")
    if sum(n > 1 for n in a.shape) > 1:
        raise EmokdError(f"{where} has shape {a.shape}, expected one row or column of valence values (1, T)")
    return a.astype(np.float64).ravel()


def read_latent(root, file_name: str = LATENT_FILE) -> dict[tuple[int, int], np.ndarray] | None:
    """The latent valence of a synthetic dataset, ``(subject, trial_no) -> (n_steps,)`` float64; None when
    ``root`` has no file ``file_name`` (real data: only the annotated labels exist). ``file_name``:
    :data:`LATENT_FILE` (the labelled trials) or :data:`UNLABELLED_LATENT_FILE` (the sessions without a
    label row)."""
    path = Path(root) / file_name
    if not path.is_file():
        return None
    out = {}
    with np.load(path, allow_pickle=False) as npz:
        for name in npz.files:
            try:
                subject, trial_no = (int(part[1:]) for part in name.split("_"))
            except ValueError:
                raise EmokdError(f"{path}: array {name!r} is not named P<subject>_T<trial_no>") from None
            trace = np.asarray(npz[name], dtype=np.float64)
            if trace.ndim != 1 or not np.all(np.isfinite(trace)):
                raise EmokdError(f"{path}: array {name!r} is not a finite trace of shape (n_steps,)")
            out[(subject, trial_no)] = trace
    return out


def unlabelled_sessions(root, labelled) -> list[tuple[int, int]]:
    """The stimulus sessions of a MAHNOB-HCI-layout folder that have no row in the label file.

    A session folder ``Sessions/<id>`` counts when its id gives an even ``trial_no`` (a stimulus
    session; the odd ones are the neutral sessions before each clip), it holds the stimulus recording
    ``Part_<s>_S_Trial<trial_no/2>_emotion.bdf`` (so sessions of other experiments, and those released
    without EEG, do not count) and a ``session.xml`` that does not say ``isStim="0"``, and
    ``(subject, trial_no)`` is not in ``labelled``. Whether it has face frames is decided by the caller.
    On the real database these are the paired recordings without continuous valence (288 of the 527
    stimulus sessions with EEG and video); on synthetic data, the ``unlabelled_per_subject`` trials.

    Parameters
    ----------
    root : path-like, folder with ``Sessions/``
    labelled : container of (subject, trial_no), the label file's trials

    Returns
    -------
    sessions : list of (subject, trial_no), in increasing session id
    """
    sessions = Path(root) / "Sessions"
    ids = sorted(int(d.name) for d in sessions.iterdir() if d.is_dir() and d.name.isdigit()) \
        if sessions.is_dir() else []
    out = []
    for sid in ids:
        subject = (sid - 1) // 130 + 1
        trial_no = sid - (subject - 1) * 130  # session_id's inverse: 1..130
        folder = session_dir(root, subject, trial_no)
        if trial_no % 2 or (subject, trial_no) in labelled or not (folder / bdf_name(subject, trial_no)).is_file():
            continue
        if not (folder / "session.xml").is_file() or read_session_xml(folder / "session.xml").get("isStim") == "0":
            continue
        out.append((subject, trial_no))
    return out


def stimulus_steps(stimulus_s: float, cfg: PrepareConfig = PrepareConfig()) -> int:
    """Label steps of a session without labels: the whole ``1 / label_rate_hz`` steps inside its
    stimulus, ``floor(stimulus_s * label_rate_hz)`` (a labelled synthetic trial of ``n`` steps has a
    stimulus of exactly ``n / 4`` s, so the same length)."""
    return int(np.floor(stimulus_s * cfg.label_rate_hz + 1e-6))


def read_session_xml(path) -> dict:
    """Attributes of a ``session.xml`` (all strings) plus ``subject`` and ``tracks`` (file names)."""
    path = Path(path)
    if not path.is_file():
        raise EmokdError(f"{path}: session.xml not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise EmokdError(f"{path}: not valid XML ({err})") from None
    info = dict(root.attrib)
    subject = root.find("subject")
    info["subject"] = subject.get("id") if subject is not None else None
    info["tracks"] = [t.get("filename") for t in root.iter("track") if t.get("filename")]
    return info


def find_bdf(folder: Path, subject: int, trial_no: int) -> Path:
    """The session's ``Part_<s>_S_Trial<k>_emotion.bdf`` (any file matching ``Part_<s>_*Trial<k>_*.bdf``)."""
    exact = folder / bdf_name(subject, trial_no)
    if exact.is_file():
        return exact
    found = sorted(folder.glob(f"Part_{subject}_*Trial{trial_no // 2}_*.bdf"))
    if not found and folder.name.isdigit() and int(folder.name) in SESSIONS_WITHOUT_EEG:
        raise EmokdError(f"{folder}: no EEG recording ({exact.name}): session {folder.name} is one of the database's "
                         f"sessions released without EEG ({', '.join(map(str, SESSIONS_WITHOUT_EEG))})")
    if len(found) != 1:
        raise EmokdError(f"{folder}: expected one BDF file {exact.name}, found {[p.name for p in found] or 'none'}")
    return found[0]


def find_stimulus(status, *, source="Status") -> tuple[int, int]:
    """Sample indices of the two rising edges of the Status channel.

    Parameters
    ----------
    status : ndarray, shape (n_times,)
        Status values (digital codes); only the low 16 (trigger) bits are used.

    Returns
    -------
    start, end : int
        First sample of the stimulus and first sample after it.
    """
    codes = np.asarray(status).astype(np.int64) & STATUS_MASK
    edges = np.flatnonzero(codes[1:] > codes[:-1]) + 1
    if codes[0] > 0:  # a trigger already high at the first sample is an edge too
        edges = np.r_[0, edges]
    if edges.size != 2:
        raise EmokdError(
            f"{source}: Status channel has {edges.size} rising edges "
            f"(at samples {edges[:10].tolist()}); expected exactly 2 (stimulus start and end)"
        )
    return int(edges[0]), int(edges[1])


#: Descriptions of the annotations that :func:`read_raw` puts at the two rising edges of Status.
STIMULUS_START, STIMULUS_END = "stimulus/start", "stimulus/end"


def session_bdf(session) -> Path:
    """The BDF file of a session: ``session`` itself if it is a file, else the one ``*.bdf`` in the folder."""
    path = Path(session)
    if path.is_file():
        return path
    if not path.is_dir():
        raise EmokdError(f"{path}: no such session folder or BDF file")
    found = sorted(path.glob("*.bdf"))
    if len(found) != 1:
        raise EmokdError(f"{path}: expected one BDF file in the session folder, "
                         f"found {[p.name for p in found] or 'none'}")
    return found[0]


def _open_bdf(path: Path, *, preload: bool = False):
    """Check the header (complete file, ranges of non-zero width), then let MNE open the file."""
    import mne

    header = check_bdf_header(path)
    check_ranges(path, header, [c for c in EEG_CHANNELS + ("Status",) if c in header["ch_names"]])
    try:
        return mne.io.read_raw_bdf(path, preload=preload, verbose="error")
    except Exception as err:  # MNE raises many types for corrupt headers
        raise EmokdError(f"{path}: MNE cannot read this BDF file ({type(err).__name__}: {err})") from None


def _as_mahnob(raw, path: Path, *, stimulus: bool = True):
    """Channel types, the montage and (``stimulus``) the stimulus annotations, in place on ``raw``."""
    import mne

    missing = [c for c in EEG_CHANNELS + ("Status",) if c not in raw.ch_names]
    if missing:
        raise EmokdError(f"{path}: channel(s) {missing} missing (found {raw.ch_names})")
    # the units MNE read (V, or none for Status) stay: the types name what the channels hold
    raw.set_channel_types(montage.channel_types(raw.ch_names), on_unit_change="ignore", verbose="error")
    raw.set_montage(montage.biosemi32())
    if stimulus:
        start, end = find_stimulus(raw.get_data(picks=["Status"])[0], source=str(path))
        sfreq = raw.info["sfreq"]
        raw.set_annotations(mne.Annotations(onset=[start / sfreq, end / sfreq], duration=[0.0, 0.0],
                                            description=[STIMULUS_START, STIMULUS_END]))
    return raw


def read_raw(session, *, preload: bool = False, stimulus: bool = True):
    """One session's BDF recording as an MNE Raw, typed, with its montage and the stimulus marked.

    Parameters
    ----------
    session : path-like
        A session folder (``ROOT/Sessions/<id>``, holding one ``.bdf`` file) or
        the BDF file itself.
    preload : bool
        Load the data into memory (MNE's ``preload``).
    stimulus : bool
        Annotate the stimulus (see below). False reads a recording whose Status
        channel does not have exactly two rising edges (some real files), without
        annotations.

    Returns
    -------
    raw : mne.io.Raw
        All channels of the file (MAHNOB-HCI: 47, 256 Hz) as MNE reads them (in V;
        Status in its digital codes, masked by MNE to the low 17 bits), with
        channel types ``eeg`` for the 32 EEG channels and
        :data:`emokd.io.montage.NON_EEG_TYPES` for the others (ECG, GSR, resp,
        temperature, misc; Status: stim), the ``biosemi32`` montage, and two
        zero-duration annotations at the rising edges of Status
        (:func:`find_stimulus`): :data:`STIMULUS_START` at the first sample of the
        stimulus and :data:`STIMULUS_END` at the first sample after it.
        :func:`stimulus_samples` reads them back.

    Raises
    ------
    EmokdError
        If the file is truncated or corrupt, a range in its header has zero width,
        an EEG channel or Status is missing, or (``stimulus``) Status does not have
        two rising edges.
    """
    path = session_bdf(session)
    return _as_mahnob(_open_bdf(path, preload=preload), path, stimulus=stimulus)


def stimulus_samples(raw) -> tuple[int, int]:
    """Samples of the stimulus start and end that :func:`read_raw` annotated, counted from the
    start of the file (MNE's events convention: ``first_samp`` included, so a cropped Raw gives
    the same numbers)."""
    import mne

    events, _ = mne.events_from_annotations(raw, event_id={STIMULUS_START: 1, STIMULUS_END: 2}, verbose="error")
    found = {code: events[events[:, 2] == code, 0] for code in (1, 2)}
    if any(found[code].size != 1 for code in (1, 2)):
        raise EmokdError(f"{raw.filenames[0] if raw.filenames else 'raw'}: expected one {STIMULUS_START!r} and one "
                         f"{STIMULUS_END!r} annotation, found {found[1].size} and {found[2].size} "
                         "(read the file with emokd.io.mahnob.read_raw; a crop can remove them)")
    return int(found[1][0]), int(found[2][0])


def read_eeg(bdf_path, cfg: PrepareConfig = PrepareConfig()) -> tuple[np.ndarray, dict]:
    """Read a session's BDF with MNE, crop around the stimulus, filter, re-reference.

    The stimulus is found as :func:`read_raw` finds it (the two rising edges of Status).

    Returns
    -------
    eeg : ndarray, shape (32, n_times), in V
        The 32 EEG channels (order :data:`~emokd.core.constants.EEG_CHANNELS`) from
        stimulus start - ``before_s`` to stimulus end + ``after_s``, band-passed
        and average-referenced.
    info : dict
        ``stimulus_samples`` (start, end) in the file, ``stimulus_s`` duration,
        ``sfreq``.
    """
    import mne

    path = Path(bdf_path)
    raw = _open_bdf(path)
    sfreq = raw.info["sfreq"]
    if sfreq != cfg.sfreq:
        raise EmokdError(f"{path}: sampling rate {sfreq:g} Hz, expected {cfg.sfreq:g} Hz")
    start, end = stimulus_samples(_as_mahnob(raw, path))

    first = start - int(round(cfg.before_s * sfreq))
    stop = end + int(round(cfg.after_s * sfreq))
    if first < 0 or stop > raw.n_times:
        raise EmokdError(
            f"{path}: the recording ({raw.n_times / sfreq:.2f} s) does not hold {cfg.before_s:g} s before the "
            f"stimulus start ({start / sfreq:.2f} s) and {cfg.after_s:g} s after its end ({end / sfreq:.2f} s)"
        )
    eeg = raw.get_data(picks=list(EEG_CHANNELS), start=first, stop=stop)  # (32, T), V
    check_eeg(eeg, source=path, sfreq=sfreq, first_s=first / sfreq)
    eeg = mne.filter.filter_data(eeg, sfreq, cfg.l_freq, cfg.h_freq, verbose="error")
    eeg -= eeg.mean(axis=0, keepdims=True)  # average reference
    return eeg, {"stimulus_samples": (start, end), "stimulus_s": (end - start) / sfreq, "sfreq": sfreq}


def _runs(mask, *, min_len: int, max_gap: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` of the runs of True in ``mask`` (1-D), runs at most ``max_gap``
    apart merged into one, runs shorter than ``min_len`` left out."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts, stops = np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]] + 1
    return [(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= min_len]


def bad_segments(eeg, sfreq: float) -> list[dict]:
    """Flat and jumping (saturated or garbage) segments of each channel, as MNE's
    :func:`mne.preprocessing.annotate_amplitude` finds them from the differences
    between consecutive samples.

    - ``"flat"``: for at least :data:`FLAT_MIN_S` the signal does not change by more
      than :data:`FLAT_V` from one sample to the next (a dropout, or an amplifier
      stuck at its rail; live EEG changes by many 31 nV steps every sample);
    - ``"jump"``: it changes by :data:`JUMP_V` or more from one sample to the next
      (at 256 Hz that is 12.8 V/s: no physiological signal, but random bytes or a
      channel hopping between its rails); jumps less than 1 s apart form one segment.

    Parameters
    ----------
    eeg : ndarray, shape (n_channels, n_times), in V
    sfreq : float, Hz

    Returns
    -------
    segments : list of dict
        ``kind`` ("flat" or "jump"), ``channel`` (row of ``eeg``), ``start`` and
        ``stop`` (samples: ``eeg[channel, start:stop]``), in channel order.
    """
    diff = np.abs(np.diff(np.asarray(eeg, dtype=np.float64), axis=1))  # (n_channels, n_times - 1)
    out = []
    for ch, d in enumerate(diff):
        for kind, runs in (("flat", _runs(d <= FLAT_V, min_len=max(1, int(round(FLAT_MIN_S * sfreq))))),
                           ("jump", _runs(d >= JUMP_V, min_len=1, max_gap=int(round(sfreq))))):
            out += [{"kind": kind, "channel": ch, "start": a, "stop": b + 1} for a, b in runs]
    return out


def check_eeg(eeg, *, source, ch_names=EEG_CHANNELS, sfreq: float | None = None, first_s: float = 0.0) -> None:
    """Raise if any EEG channel holds NaN/inf or is flat (a disconnected electrode); with
    ``sfreq``, also if a segment of it is flat or jumps (:func:`bad_segments`), naming the
    channels and the time span in the file (``eeg`` starts ``first_s`` into it)."""
    bad = [ch_names[i] for i in np.flatnonzero(~np.all(np.isfinite(eeg), axis=1))]
    if bad:
        raise EmokdError(f"{source}: EEG channel(s) {bad} hold NaN or infinite values")
    flat = [ch_names[i] for i in np.flatnonzero(np.ptp(eeg, axis=1) <= 1e-12)]
    if flat:
        raise EmokdError(f"{source}: EEG channel(s) {flat} are flat (no signal)")
    peak = np.abs(eeg).max(axis=1)
    wild = [f"{ch_names[i]} ({peak[i]:.3g} V)" for i in np.flatnonzero(peak > MAX_EEG_V)]
    if wild:
        raise EmokdError(f"{source}: EEG channel(s) {', '.join(wild)} exceed {MAX_EEG_V:g} V, beyond any EEG "
                         "amplifier's range (Biosemi: +-0.262 V); check the file's physical range")
    segments = bad_segments(eeg, sfreq) if sfreq else []
    for kind, what in (("jump", f"jump by {JUMP_V:g} V or more between samples (random or saturated data)"),
                       ("flat", f"are flat (no change above {FLAT_V:g} V between samples) for {FLAT_MIN_S:g} s or more "
                                "(a dropout)")):
        found = [seg for seg in segments if seg["kind"] == kind]
        if found:
            chans = sorted({seg["channel"] for seg in found})
            start = first_s + min(seg["start"] for seg in found) / sfreq
            stop = first_s + max(seg["stop"] for seg in found) / sfreq
            raise EmokdError(f"{source}: EEG channel(s) {[ch_names[i] for i in chans]} {what} between "
                             f"{start:.2f} s and {stop:.2f} s of the recording")


def eeg_band_power(eeg, n_steps: int, cfg: PrepareConfig = PrepareConfig(), *, source="EEG") -> np.ndarray:
    """Band power aligned to the labels: window k is centred on label step k.

    Parameters
    ----------
    eeg : ndarray, shape (n_channels, n_times)
        From :func:`read_eeg` (starting ``before_s`` before the stimulus).
    n_steps : int
        Length of the label trace.

    Returns
    -------
    power : ndarray, shape (n_steps, n_bands, n_channels)
    """
    power = band_power(eeg, cfg.sfreq, bands=cfg.bands, window_s=cfg.window_s, hop_s=cfg.hop_s,
                       welch_s=cfg.welch_s, relative=cfg.relative)
    if power.shape[0] < n_steps:
        raise EmokdError(
            f"{source}: EEG gives {power.shape[0]} feature windows ({eeg.shape[1] / cfg.sfreq:.2f} s) "
            f"but the label trace has {n_steps} steps ({n_steps / cfg.label_rate_hz:.2f} s): EEG shorter than its labels"
        )
    return power[:n_steps]


def read_frames(path, n_steps: int, cfg: PrepareConfig = PrepareConfig(), *,
                stimulus_s: float | None = None) -> np.ndarray:
    """Face frames aligned to the labels.

    ``stimulus_s``: the duration of the stimulus in the recording (s). The frames
    cover the stimulus period, so ``n_frames / fps`` must match it to within
    :data:`FRAMES_SLACK` (a fraction, at least 1 s): a file whose ``fps`` is not the
    rate of its frames (8 declared for 16-fps frames: 2x too long) would otherwise
    stretch the video against the labels.

    ``frames`` may be grey, (n, 48, 48), or colour, (n, 48, 48, 3) RGB (what the video step
    writes): colour is turned into grey, ``round(0.299 R + 0.587 G + 0.114 B)`` (ITU-R BT.601 luma,
    as OpenCV's and OpenFace's ``-g``), since the teachers read one channel.

    Returns
    -------
    frames : ndarray of uint8, shape (n_steps, frames_per_step, 48, 48)
        ``frames[k]`` are the frames of label step k (time k / 4 s to (k + 1) / 4 s).
    """
    path = Path(path)
    try:
        with np.load(path) as npz:
            missing = [k for k in ("frames", "fps") if k not in npz.files]
            if missing:
                raise EmokdError(f"{path}: field(s) {missing} missing (need 'frames' and 'fps')")
            frames, fps = npz["frames"], float(npz["fps"])
    except EmokdError:
        raise
    except Exception as err:
        raise EmokdError(f"{path}: cannot read face frames ({err})") from None
    per_step = fps / cfg.label_rate_hz
    if frames.ndim == 4 and frames.shape[3] == 3 and frames.dtype == np.uint8:
        frames = to_grey(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise EmokdError(f"{path}: field 'frames' is {frames.dtype} {frames.shape}, expected uint8 (n, height, width) "
                         "or (n, height, width, 3)")
    if frames.shape[1:] != (FRAME_SIZE, FRAME_SIZE):
        raise EmokdError(f"{path}: field 'frames' holds {frames.shape[1]} x {frames.shape[2]} px frames, expected "
                         f"{FRAME_SIZE} x {FRAME_SIZE} face crops")
    if not np.isfinite(fps) or per_step < 1 or per_step != int(per_step):
        raise EmokdError(f"{path}: field 'fps' = {fps:g} is not a whole multiple of the {cfg.label_rate_hz:g} Hz label rate")
    per_step = int(per_step)
    if frames.shape[0] < n_steps * per_step:
        raise EmokdError(f"{path}: {frames.shape[0]} frames cover {frames.shape[0] / fps:.2f} s, "
                         f"shorter than the {n_steps / cfg.label_rate_hz:.2f} s label trace")
    if stimulus_s is not None and abs(frames.shape[0] / fps - stimulus_s) > max(1.0, FRAMES_SLACK * stimulus_s):
        raise EmokdError(f"{path}: field 'fps' = {fps:g} makes its {frames.shape[0]} frames last "
                         f"{frames.shape[0] / fps:.2f} s, but the stimulus lasts {stimulus_s:.2f} s in the recording "
                         f"({frames.shape[0] / stimulus_s:.3g} frames/s); is 'fps' the rate of these frames?")
    out = frames[: n_steps * per_step].reshape(n_steps, per_step, *frames.shape[1:])
    keep = cfg.frames_per_step or per_step
    if per_step % keep:
        raise EmokdError(f"{path}: cannot take {keep} of {per_step} frames per step evenly")
    return np.ascontiguousarray(out[:, :: per_step // keep])


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """Colour frames uint8 (..., 3) RGB -> grey uint8 (...): ITU-R BT.601 luma, rounded."""
    luma = np.asarray(rgb, dtype=np.float32) @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)  # (...,)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)


def read_trial(root, subject: int, trial_no: int, valence=None, cfg: PrepareConfig = PrepareConfig(), *,
               labelled: bool = True) -> dict:
    """Everything of one trial, aligned to its 4 Hz valence trace.

    ``valence`` (n_steps,) is the trial's label trace; when None it is looked up
    in ``ROOT/lable_continous_Mahnob.mat``. ``labelled=False``: a session without labels
    (:func:`unlabelled_sessions`); no label is read or looked up (``valence`` must be None), the
    trial has :func:`stimulus_steps` steps and its ``valence`` is NaN throughout.

    Returns
    -------
    trial : dict
        ``eeg_bp`` float32 (n_steps, n_bands, 32) band power; ``valence`` float32
        (n_steps,) (all NaN without labels); ``frames`` uint8 (n_steps, frames_per_step, 48, 48) or None;
        ``info`` (session attributes, stimulus timing) and ``sources`` (paths read); ``labelled`` False
        for a session without labels (absent otherwise).
    """
    folder = session_dir(root, subject, trial_no)
    if not folder.is_dir():
        raise EmokdError(f"{folder}: session folder of subject {subject} trial {trial_no} not found")
    xml = read_session_xml(folder / "session.xml")
    if xml.get("subject") not in (None, str(subject)):
        raise EmokdError(f"{folder / 'session.xml'}: subject id {xml['subject']!r}, expected {subject}")
    if xml.get("sessionId") not in (None, folder.name):  # a session.xml copied from another session
        raise EmokdError(f"{folder / 'session.xml'}: field 'sessionId' is {xml['sessionId']!r}, but it is in "
                         f"session folder {folder.name!r} (subject {subject} trial {trial_no})")
    bdf = find_bdf(folder, subject, trial_no)
    if not labelled:
        if valence is not None:
            raise EmokdError(f"{folder}: labelled=False with a valence trace given; a session without labels "
                             "has none")
    elif valence is None:
        labels = read_labels(Path(root) / LABEL_FILE)
        if (subject, trial_no) not in labels:
            raise EmokdError(f"{Path(root) / LABEL_FILE}: no row for subject {subject} trial {trial_no} "
                             "in field 'trials_included' (this session has no continuous labels)")
        valence = labels[(subject, trial_no)]
    if labelled:
        valence = np.asarray(valence, dtype=np.float64)
    eeg, info = read_eeg(bdf, cfg)
    if not labelled:  # its length from the stimulus: no label exists, none is made up
        valence = np.full(stimulus_steps(info["stimulus_s"], cfg), np.nan)
        if valence.size < 1:
            raise EmokdError(f"{bdf}: the stimulus lasts {info['stimulus_s']:.3f} s, less than one label step")
    power = eeg_band_power(eeg, valence.size, cfg, source=bdf)
    frames_path = folder / FRAMES_FILE
    frames = read_frames(frames_path, valence.size, cfg, stimulus_s=info["stimulus_s"]) if frames_path.is_file() \
        else None
    sources = [folder / "session.xml", bdf] + ([frames_path] if frames is not None else [])
    return {
        "eeg_bp": power.astype(np.float32),
        "valence": valence.astype(np.float32),
        "frames": frames,
        "info": {**info, "session": xml},
        "sources": sources,
        **({} if labelled else {"labelled": False}),
    }
