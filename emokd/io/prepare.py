"""Prepare a whole MAHNOB-HCI-layout dataset: one ``.npz`` per trial plus a manifest.

``prepare_dataset(root)`` reads every trial listed in the label file with
:func:`emokd.io.mahnob.read_trial` and writes ``ROOT/prepared/`` (or ``out``)::

    P01_T10.npz      eeg_bp float32 (n_steps, 6, 32), valence float32 (n_steps,),
                     frames uint8 (n_steps, k, 48, 48) when the session has face frames,
                     latent float32 (n_steps,) when the dataset has a latent valence (synthetic:
                     ``latent_valence.npz``; ``valence`` is then its annotation)
    manifest.json    parameters (+ hash), library versions, the label file and each
                     trial's source files (bytes, SHA-256), output file and shapes

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
from .mahnob import FRAMES_FILE, LABEL_FILE, read_labels, read_latent, read_trial, session_dir
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
                    on_error: str = "raise", faces: str = "auto", n_jobs: int = 1, video_align: str = "stimulus") -> dict:
    """Prepare every labelled trial of a MAHNOB-HCI-layout folder.

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
    faces_failed = _make_faces(root, labels, faces=faces, n_jobs=n_jobs, align=video_align, on_error=on_error,
                               progress=progress)
    no_frames = {**_check_frames_everywhere(root, labels, on_error), **faces_failed}
    out.mkdir(parents=True, exist_ok=True)
    with prepared_lock(out, shared=False):  # no run reads the trials while they are rewritten
        return _prepare_trials(root, out, cfg, labels, latent, no_frames, progress=progress, on_error=on_error)


def _prepare_trials(root: Path, out: Path, cfg: PrepareConfig, labels: dict, latent: dict | None,
                    no_frames: dict, *, progress: bool, on_error: str) -> dict:
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
    # before any trial file changes: killed from here on, the folder says it is incomplete (the trials
    # prepared earlier are listed to be checked and kept by the next run)
    write_json(out / MANIFEST, {**manifest, "trials": {k: e for k, e in (reuse or {"trials": {}})["trials"].items()
                                                       if (e.get("subject"), e.get("trial_no")) in labels}})
    n_skipped = 0
    for (subject, trial_no), valence in tqdm(labels.items(), desc="prepare", unit="trial", disable=not progress):
        key = trial_key(subject, trial_no)
        if key in no_frames:  # on_error == "skip"
            log.warning("skipping %s: %s", key, no_frames[key])
            manifest["failed"][key] = no_frames[key]
            continue
        previous = reuse["trials"].get(key) if reuse else None
        label_hash = hashlib.sha256(np.asarray(valence, dtype=np.float64).tobytes()).hexdigest()
        lat = None if latent is None else latent.get((subject, trial_no))
        if latent is not None and (lat is None or lat.shape != np.shape(valence)):
            raise EmokdError(f"{root / 'latent_valence.npz'}: subject {subject} trial {trial_no}: "
                             f"{'no trace' if lat is None else f'{lat.size} steps'}, the labels have "
                             f"{np.size(valence)}")
        lat_hash = None if lat is None else hashlib.sha256(lat.tobytes()).hexdigest()
        if (_is_current(previous, out, root) and previous.get("label_sha256") == label_hash
                and previous.get("latent_sha256") == lat_hash):
            manifest["trials"][key] = previous
            n_skipped += 1
            continue
        try:
            trial = read_trial(root, subject, trial_no, valence, cfg)
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
        manifest["trials"][key] = {**entry, "label_sha256": label_hash,
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


def load_prepared(out, *, frames: bool = True, keys=None) -> list[dict]:
    """Load the prepared trials of a folder (in manifest order).

    ``frames=False`` skips the face frames (``frames`` is then None), which hold
    most of the bytes; ``keys`` loads only those trials (an unknown key is an error).

    Returns
    -------
    trials : list of dict
        ``subject``, ``trial_no``, ``key``, ``eeg_bp`` (n_steps, n_bands, n_chans),
        ``valence`` (n_steps,), ``frames`` (n_steps, k, 48, 48) or None, ``latent``
        (n_steps,) the latent valence of synthetic data (``valence`` is its
        annotation) or None.
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
        if keys is not None and key not in keys:
            continue
        with np.load(out / entry["file"]) as npz:
            trials.append({
                "key": key, "subject": int(npz["subject"]), "trial_no": int(npz["trial_no"]),
                "eeg_bp": npz["eeg_bp"], "valence": npz["valence"],
                "frames": npz["frames"] if frames and "frames" in npz.files else None,
                "latent": npz["latent"] if "latent" in npz.files else None,
            })
    return trials
