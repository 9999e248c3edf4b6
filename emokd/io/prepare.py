"""Prepare a whole MAHNOB-HCI-layout dataset: one ``.npz`` per trial plus a manifest.

``prepare_dataset(root)`` reads every trial listed in the label file with
:func:`emokd.io.mahnob.read_trial` and writes ``ROOT/prepared/`` (or ``out``)::

    P01_T10.npz      eeg_bp float32 (n_steps, 6, 32), valence float32 (n_steps,),
                     frames uint8 (n_steps, k, 48, 48) when the session has face frames,
                     latent float32 (n_steps,) when the dataset has a latent valence (synthetic:
                     ``latent_valence.npz``; ``valence`` is then its annotation)
    manifest.json    parameters (+ hash), library versions, the label file and each
                     trial's source files (bytes, SHA-256), output file and shapes

Sessions without labels (``unlabelled=True``, ``prepare --unlabelled``; default off): the stimulus
sessions with EEG and face frames but no row in the label file (:func:`emokd.io.mahnob.unlabelled_sessions`:
on the real database the paired recordings without continuous valence, on synthetic data the
``unlabelled_per_subject`` trials) are prepared too, as trials whose manifest entry says
``"labelled": false``. Their length is the stimulus's (:func:`emokd.io.mahnob.stimulus_steps`); their
``valence`` is float32 NaN throughout (kept, so that every trial file has the same arrays; no label
exists and none is made up), their ``latent`` the one in ``latent_valence_unlabelled.npz`` where that
file exists (synthetic data; for scoring only). A candidate session without face frames is not a pair
and is left out (the manifest's ``unlabelled_sessions``: ``n``, ``left_out`` with why, ``latent_file``).
Without the option the folder, its manifest and every fingerprint are what they were before it
existed. :func:`load_prepared` returns those trials only when asked (``unlabelled=True``).

Face frames: a session without ``face_frames.npz`` whose frontal camera file is there gets one
made from the video first (:mod:`emokd.io.facevideo`, the ``video`` extra; ``faces``: ``"auto"``
makes them when any labelled session has a camera file and the extra is installed, ``"video"``
always, ``"none"`` never), in parallel over sessions (``n_jobs``) and resumable, since a session
whose file exists is not redone.

Re-running skips trials already prepared with the same parameters (same hash,
output present with the recorded SHA-256, sources with the recorded SHA-256: a
source edited in place, or another folder's files under the same names, are
prepared again; see :func:`_is_current`). The manifest
says how many trials were expected (``n_expected``) and whether preparation went
through all of them (``finished``); a stopped preparation records the trial it
stopped at (``stopped_at``, ``failed``), and :func:`load_prepared` refuses it. Every file is
written under a temporary name and renamed when complete, and the manifest is
updated after each trial, so an interrupted run never leaves a half-written
trial that looks complete. The manifest is written before the first trial, so a
preparation killed at any point leaves a folder that says it is incomplete.

:func:`prepared_lock` keeps a preparation and the runs that read the folder apart:
``prepare_dataset`` holds it exclusively, :func:`emokd.evaluation.experiment.run_experiment`
shared, so the trial files cannot be rewritten under a run that has taken their
fingerprint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ..core.config import PrepareConfig
from ..errors import EmokdError
from .extras import INSTALL_HINT, video_available
from .mahnob import (FRAMES_FILE, LABEL_FILE, UNLABELLED_LATENT_FILE, read_labels, read_latent, read_trial,
                     session_dir, unlabelled_sessions)
from ..core.fileio import save_npz, sha256, versions, write_json
from ..core.locks import LockBusy, LockUnavailable, file_lock

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: when ``prepare`` makes face frames from the sessions' camera files
FACES = ("auto", "video", "none")
FORMAT = "emokd-prepared/1"
LOCK = ".prepare.lock"


def trial_key(subject: int, trial_no: int) -> str:
    """File stem of a prepared trial, e.g. ``P01_T10``."""
    return f"P{subject:02d}_T{trial_no:02d}"


def _file_record(path: Path, root: Path) -> dict:
    return {"path": str(path.relative_to(root)), "bytes": path.stat().st_size, "sha256": sha256(path)}


def _versions() -> dict:
    return versions(["emokd", "mne", "numpy", "scipy", "python"])


def read_manifest(out) -> dict | None:
    """The manifest of a prepared folder, or None when there is none."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise EmokdError(f"{path}: not valid JSON ({err})") from None
    if manifest.get("format") != FORMAT:
        raise EmokdError(f"{path}: field 'format' is {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def check_complete(manifest: dict, path) -> None:
    """Raise EmokdError unless the preparation that wrote ``manifest`` went through every trial.

    A stopped preparation names the trial it stopped at; trials skipped on purpose
    (``--skip-bad``) are listed in ``failed`` and do not make it incomplete.
    """
    if manifest.get("finished") is True:
        return
    if "finished" not in manifest:
        raise EmokdError(f"{path}: field 'finished' is missing (prepared by an older emokd); rerun "
                         "`python -m emokd prepare` on its source folder")
    failed = manifest.get("failed") or {}
    if not failed:  # killed (SIGKILL, power, Ctrl-C): nothing to fix, only to finish
        raise EmokdError(f"{path}: incomplete preparation (interrupted after {len(manifest.get('trials', {}))} of "
                         f"{manifest.get('n_expected', '?')} trials); finish it with `python -m emokd prepare "
                         f"{manifest.get('source', 'SOURCE')} --out {Path(path).parent}` (prepared trials are kept)")
    where = f"stopped at {manifest['stopped_at']}" if manifest.get("stopped_at") else "stopped"
    why = "; ".join(f"{k}: {v}" for k, v in failed.items())
    raise EmokdError(f"{path}: incomplete preparation ({where}, {len(manifest.get('trials', {}))} of "
                     f"{manifest.get('n_expected', '?')} trials prepared{'; failed ' + why if why else ''}); "
                     "fix the trial and rerun `python -m emokd prepare`, or pass --skip-bad to leave it out")


def _is_current(entry: dict | None, out: Path, root: Path) -> bool:
    """Whether a trial prepared earlier (``entry`` of the old manifest) can be kept as it is.

    Its output and every source file must have the recorded SHA-256. Sources are
    compared by content, not by size or mtime: an edit in place keeps the size (3,840
    bytes of a BDF overwritten, frames inverted, another subject id in session.xml),
    copies keep or lose mtimes at random (``cp -p``, rsync, unzip), and another source
    folder under the same names has other contents. Hashing costs one read of the
    sources (about 5 MB per MAHNOB-HCI trial, milliseconds), far less than
    preparing the trial again.
    """
    if not entry or "sha256" not in entry:
        return False
    target = out / entry["file"]
    if not target.is_file() or target.stat().st_size != entry["bytes"] or sha256(target) != entry["sha256"]:
        return False
    return all((root / s["path"]).is_file() and (root / s["path"]).stat().st_size == s["bytes"]
               and sha256(root / s["path"]) == s.get("sha256") for s in entry["sources"])


@contextlib.contextmanager
def prepared_lock(out, *, shared: bool):
    """Hold ``out/.prepare.lock`` (:func:`emokd.core.locks.file_lock`) for the ``with`` block: exclusive to
    prepare ``out``, ``shared`` to read it (a run). Raises EmokdError at once when the other kind is held.

    Re-entrant within one process for a shared lock (or any lock inside an exclusive one).
    A shared lock on a folder where the lock file cannot be made (read-only data) is not
    taken: nobody can prepare into such a folder either. Where ``fcntl`` is not available
    (Windows) nothing is locked.
    """
    out = Path(out)
    held = contextlib.ExitStack()
    try:
        held.enter_context(file_lock(out / LOCK, shared=shared))
    except LockBusy as busy:
        if busy.here:
            raise EmokdError(f"{out}: an emokd run in this process is reading this prepared folder; prepare "
                             "into another --out") from None
        if shared:
            raise EmokdError(f"{out}: being prepared by another emokd process (pid {busy.pid}); wait for it to "
                             "finish, then run again") from None
        raise EmokdError(f"{out}: another emokd process is reading or preparing this prepared folder (a run or "
                         "`prepare`); wait for it to finish, or prepare into another --out") from None
    except LockUnavailable as err:
        if not shared:
            raise EmokdError(f"{out / LOCK}: cannot lock ({err.strerror})") from None
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):  # read-only data: nobody prepares into it
            log.warning("%s: not locked (%s); do not prepare into it while a run reads it", out, err.strerror)
    with held:
        yield


def _check_frames_everywhere(root: Path, labels: dict, on_error: str) -> dict[str, str]:
    """Trial key -> why, for the sessions without face frames when other sessions have them.

    A data set is prepared with frames for every trial or for none: a run's teacher
    reads every trial's frames. Raises EmokdError for the first such session unless
    ``on_error == "skip"``.
    """
    have = {key: (session_dir(root, *key) / FRAMES_FILE).is_file() for key in labels
            if session_dir(root, *key).is_dir()}
    if all(have.values()) or not any(have.values()):
        return {}
    out = {}
    for (subject, trial_no), found in have.items():
        if not found:
            why = (f"{session_dir(root, subject, trial_no) / FRAMES_FILE}: not found, but "
                   f"{sum(have.values())} other sessions have face frames (every trial needs them, or none)")
            if on_error == "raise":
                raise EmokdError(why)
            out[trial_key(subject, trial_no)] = why
    return out


def _make_faces(root: Path, labels: dict, *, faces: str, n_jobs: int, align: str, on_error: str,
                progress: bool) -> dict[str, str]:
    """Make the missing ``face_frames.npz`` of the labelled sessions from their camera files
    (:func:`emokd.io.facevideo.make_face_frames`); trial key -> why, for each session that failed
    (``on_error == "skip"``; with ``"raise"`` the first failure is raised)."""
    if faces not in FACES:
        raise EmokdError(f"faces={faces!r}: choose one of {FACES}")
    if faces == "none":
        return {}
    from .video import CAMERA_PATTERN

    folders = {key: session_dir(root, *key) for key in labels}
    need = [(trial_key(*key), *key) for key, folder in folders.items()
            if folder.is_dir() and not (folder / FRAMES_FILE).is_file()]
    if not need:
        return {}
    if faces == "auto":
        if not any(next(folder.glob(CAMERA_PATTERN.format(section="*")), None) for folder in folders.values()
                   if folder.is_dir()):
            return {}  # no camera files: a data set prepared from EEG (and any face frames given)
        if not video_available():
            log.warning("%d sessions have no %s but the camera files are there: install the 'video' extra to make "
                        "face frames from them (%s); preparing without", len(need), FRAMES_FILE, INSTALL_HINT)
            return {}
    from .facevideo import make_face_frames

    done = make_face_frames(root, need, n_jobs=n_jobs, align=align, on_error=on_error, progress=progress)
    return {r.key: r.message for r in done if r.status == "failed"}


def _no_labels_but_trials(root: Path) -> None:
    """Refuse a folder that holds prepared trials but no label file nor manifest: a preparation killed
    before it wrote its manifest (by an emokd that wrote it only after the first trial)."""
    if (root / LABEL_FILE).is_file() or (root / MANIFEST).is_file():
        return
    found = sorted(p.name for p in root.glob("P*_T*.npz")) + sorted(p.name for p in root.glob("*.tmp"))
    if found:
        raise EmokdError(f"{root}: no {LABEL_FILE} and no {MANIFEST}, but prepared trial files ({found[0]}, ...): an "
                         f"incomplete preparation; delete {root} and rerun `python -m emokd prepare SOURCE --out {root}`")


def prepare_dataset(root, out=None, cfg: PrepareConfig = PrepareConfig(), *, progress: bool = True,
                    on_error: str = "raise", faces: str = "auto", n_jobs: int = 1, video_align: str = "stimulus",
                    unlabelled: bool = False) -> dict:
    """Prepare every labelled trial of a MAHNOB-HCI-layout folder (and, with ``unlabelled``, every paired
    session without labels).

    Parameters
    ----------
    root : path-like
        Folder with ``lable_continous_Mahnob.mat`` and ``Sessions/``.
    out : path-like, optional
        Where to write; default ``ROOT/prepared``.
    cfg : PrepareConfig
    progress : bool
        Show a progress bar.
    on_error : {"raise", "skip"}
        On a bad trial, stop with its error (default), or record it under
        ``failed`` in the manifest and go on.
    faces : {"auto", "video", "none"}
        Make missing face frames from the sessions' camera files (see the module's docstring).
    n_jobs : int
        Sessions whose face frames are made at once (joblib processes).
    video_align : {"bdf", "stimulus"}
        Where the camera's time 0 lies (:func:`emokd.io.video.stimulus_in_video`).
    unlabelled : bool
        Also prepare the stimulus sessions with EEG and face frames but no label row, as trials
        marked ``"labelled": false`` (see the module's docstring). Default False: only labelled trials.

    Returns
    -------
    manifest : dict
        What ``manifest.json`` holds.
    """
    if on_error not in ("raise", "skip"):
        raise EmokdError(f"on_error={on_error!r}: choose 'raise' or 'skip'")
    root = Path(root)
    out = Path(out) if out is not None else root / "prepared"
    _no_labels_but_trials(root)
    labels = read_labels(root / LABEL_FILE)
    latent = read_latent(root)
    extra = _Unlabelled.find(root, labels) if unlabelled else None
    faces_failed = _make_faces(root, {**labels, **(extra.keys if extra else {})}, faces=faces, n_jobs=n_jobs,
                               align=video_align, on_error=on_error, progress=progress)
    no_frames = {**_check_frames_everywhere(root, labels, on_error), **faces_failed}
    if extra:
        extra = extra.paired(root, no_frames)
    out.mkdir(parents=True, exist_ok=True)
    with prepared_lock(out, shared=False):  # no run reads the trials while they are rewritten
        return _prepare_trials(root, out, cfg, labels, latent, no_frames, progress=progress, on_error=on_error,
                               extra=extra)


@dataclasses.dataclass(frozen=True)
class _Unlabelled:
    """The sessions without labels that a preparation adds: ``keys`` (subject, trial_no) -> None (a dict, in
    session order, to sit beside the labels), their latent valence (synthetic data) and the candidates
    left out (trial key -> why)."""

    keys: dict
    latent: dict | None
    left_out: dict

    @classmethod
    def find(cls, root: Path, labels: dict) -> _Unlabelled:
        return cls({key: None for key in unlabelled_sessions(root, labels)},
                   read_latent(root, UNLABELLED_LATENT_FILE), {})

    def paired(self, root: Path, no_frames: dict) -> _Unlabelled:
        """Only the sessions that have face frames (after any were made from the camera): the others
        are no pair for a teacher, so they are left out (not failed)."""
        keys, left = {}, dict(self.left_out)
        for key in self.keys:
            name = trial_key(*key)
            if name in no_frames:
                left[name] = no_frames.pop(name)
            elif not (session_dir(root, *key) / FRAMES_FILE).is_file():
                left[name] = f"{session_dir(root, *key) / FRAMES_FILE}: not found (EEG without a face: no pair)"
            else:
                keys[key] = None
        return dataclasses.replace(self, keys=keys, left_out=left)

    def record(self) -> dict:
        """The manifest's ``unlabelled_sessions``."""
        return {"n": len(self.keys), "left_out": self.left_out,
                "latent_file": UNLABELLED_LATENT_FILE if self.latent is not None else None}


def _prepare_trials(root: Path, out: Path, cfg: PrepareConfig, labels: dict, latent: dict | None,
                    no_frames: dict, *, progress: bool, on_error: str, extra: _Unlabelled | None = None) -> dict:
    from tqdm.auto import tqdm

    for stale in out.glob("*.tmp"):  # left by an interrupted run: never complete
        stale.unlink()
    params = dataclasses.asdict(cfg)
    old = read_manifest(out)
    reuse = old if old and old.get("params_hash") == cfg.params_hash() else None
    source = str(root.resolve())
    if reuse and reuse.get("source") != source:  # kept only where the sources have the same contents
        log.warning("%s was prepared from %s; now from %s: only trials whose source files have the same "
                    "SHA-256 are kept", out, reuse.get("source"), source)
    manifest = {
        "format": FORMAT,
        "source": source,
        "params": params,
        "params_hash": cfg.params_hash(),
        "versions": _versions(),
        "label_file": _file_record(root / LABEL_FILE, root),
        "n_expected": len(labels),
        "finished": False,  # True once every trial was prepared or skipped (--skip-bad)
        "trials": {},
        "failed": {},
    }
    todo = dict(labels)
    if extra is not None:  # only then: a folder prepared without the option has the manifest it always had
        manifest["n_expected"] += len(extra.keys)
        manifest["unlabelled_sessions"] = extra.record()
        todo.update(extra.keys)  # (subject, trial_no) -> None: no label
    # before any trial file changes: killed from here on, the folder says it is incomplete (the trials
    # prepared earlier are listed to be checked and kept by the next run)
    write_json(out / MANIFEST, {**manifest, "trials": {k: e for k, e in (reuse or {"trials": {}})["trials"].items()
                                                       if (e.get("subject"), e.get("trial_no")) in todo}})
    n_skipped = 0
    for (subject, trial_no), valence in tqdm(todo.items(), desc="prepare", unit="trial", disable=not progress):
        key = trial_key(subject, trial_no)
        if key in no_frames:  # on_error == "skip"
            log.warning("skipping %s: %s", key, no_frames[key])
            manifest["failed"][key] = no_frames[key]
            continue
        previous = reuse["trials"].get(key) if reuse else None
        labelled = (subject, trial_no) in labels
        if labelled:
            label_hash = hashlib.sha256(np.asarray(valence, dtype=np.float64).tobytes()).hexdigest()
            lat = None if latent is None else latent.get((subject, trial_no))
            if latent is not None and (lat is None or lat.shape != np.shape(valence)):
                raise EmokdError(f"{root / 'latent_valence.npz'}: subject {subject} trial {trial_no}: "
                                 f"{'no trace' if lat is None else f'{lat.size} steps'}, the labels have "
                                 f"{np.size(valence)}")
        else:  # no label: nothing to hash; its latent (synthetic data) is checked against its length below
            label_hash = None
            lat = None if extra.latent is None else extra.latent.get((subject, trial_no))
            if extra.latent is not None and lat is None:
                raise EmokdError(f"{root / UNLABELLED_LATENT_FILE}: no trace of subject {subject} trial {trial_no}, "
                                 "a session without labels")
        lat_hash = None if lat is None else hashlib.sha256(lat.tobytes()).hexdigest()
        if (_is_current(previous, out, root) and previous.get("label_sha256") == label_hash
                and previous.get("latent_sha256") == lat_hash and previous.get("labelled", True) == labelled):
            manifest["trials"][key] = previous
            n_skipped += 1
            continue
        try:
            trial = read_trial(root, subject, trial_no, valence, cfg, labelled=labelled)
            if lat is not None and lat.shape != trial["valence"].shape:
                raise EmokdError(f"{root / UNLABELLED_LATENT_FILE}: subject {subject} trial {trial_no}: {lat.size} "
                                 f"steps, its stimulus has {trial['valence'].size}")
        except EmokdError as err:
            if on_error == "raise":  # the manifest says where it stopped, and why
                manifest.update(failed={key: str(err)}, stopped_at=key)
                write_json(out / MANIFEST, manifest)
                raise
            log.warning("skipping %s: %s", key, err)
            manifest["failed"][key] = str(err)
            continue
        if lat is not None:
            trial["latent"] = lat.astype(trial["valence"].dtype)
        entry = _write_trial(out / f"{key}.npz", trial, subject, trial_no, root)
        manifest["trials"][key] = {**entry, **({"label_sha256": label_hash} if labelled else {"labelled": False}),
                                   **({"latent_sha256": lat_hash} if lat_hash else {})}
        write_json(out / MANIFEST, manifest)
    manifest["finished"] = True
    write_json(out / MANIFEST, manifest)
    manifest["n_skipped"] = n_skipped
    return manifest


def _write_trial(path: Path, trial: dict, subject: int, trial_no: int, root: Path) -> dict:
    arrays = {"eeg_bp": trial["eeg_bp"], "valence": trial["valence"],
              "subject": np.int64(subject), "trial_no": np.int64(trial_no)}
    if trial["frames"] is not None:
        arrays["frames"] = trial["frames"]
    if trial.get("latent") is not None:
        arrays["latent"] = trial["latent"]
    save_npz(path, arrays)
    info = trial["info"]
    return {
        "subject": subject,
        "trial_no": trial_no,
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": sha256(path),
        "n_steps": int(trial["valence"].size),
        "shapes": {k: list(v.shape) for k, v in arrays.items() if np.ndim(v)},
        "stimulus_s": info["stimulus_s"],
        "stimulus_samples": list(info["stimulus_samples"]),
        "cutNr": info["session"].get("cutNr"),
        "feltVlnc": info["session"].get("feltVlnc"),
        "sources": [_file_record(p, root) for p in trial["sources"]],
    }


def is_labelled(entry: dict) -> bool:
    """Whether a manifest's trial entry has labels (a session prepared with ``unlabelled`` has none)."""
    return entry.get("labelled", True) is not False


def load_prepared(out, *, frames: bool = True, keys=None, unlabelled: bool = False) -> list[dict]:
    """Load the prepared trials of a folder (in manifest order).

    ``frames=False`` skips the face frames (``frames`` is then None), which hold
    most of the bytes; ``keys`` loads only those trials, labelled or not (an unknown key is an
    error). Without ``keys``, the sessions without labels (``prepare --unlabelled``) are loaded
    only with ``unlabelled=True``: a caller that does not ask never meets a NaN label.

    Returns
    -------
    trials : list of dict
        ``subject``, ``trial_no``, ``key``, ``eeg_bp`` (n_steps, n_bands, n_chans),
        ``valence`` (n_steps,) (NaN throughout for a session without labels), ``frames``
        (n_steps, k, 48, 48) or None, ``latent`` (n_steps,) the latent valence of synthetic
        data (``valence`` is its annotation) or None; ``labelled`` False for a session without
        labels (absent otherwise).
    """
    out = Path(out)
    manifest = read_manifest(out)
    if manifest is None:
        raise EmokdError(f"{out}: no {MANIFEST}; run `python -m emokd prepare` first")
    check_complete(manifest, out / MANIFEST)
    if keys is not None:
        unknown = sorted(set(keys) - set(manifest["trials"]))
        if unknown:
            raise EmokdError(f"{out / MANIFEST}: no prepared trial {', '.join(unknown)}")
    trials = []
    for key, entry in manifest["trials"].items():
        if keys is not None and key not in keys or keys is None and not unlabelled and not is_labelled(entry):
            continue
        with np.load(out / entry["file"]) as npz:
            trials.append({
                "key": key, "subject": int(npz["subject"]), "trial_no": int(npz["trial_no"]),
                "eeg_bp": npz["eeg_bp"], "valence": npz["valence"],
                "frames": npz["frames"] if frames and "frames" in npz.files else None,
                "latent": npz["latent"] if "latent" in npz.files else None,
                **({} if is_labelled(entry) else {"labelled": False}),
            })
    return trials
