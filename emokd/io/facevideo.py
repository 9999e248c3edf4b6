"""From a session's frontal camera to ``Sessions/<id>/face_frames.npz``: the paper's face crops, made offline.

For one session (:func:`session_face_frames`):

1. the stimulus period from the BDF: the two rising edges of Status (:func:`emokd.io.mahnob.read_raw`);
   when the session has a gaze file, the movie's duration in it is compared (a warning past 1 s);
2. the camera file (:func:`emokd.io.video.find_camera`) and the output frames at 64 fps inside the
   stimulus, each filled with the input frame ffmpeg's ``fps=64`` would choose
   (:mod:`emokd.io.video`);
3. each distinct input frame decoded once, its face found (:class:`emokd.io.faces_align.MediaPipeFaces`)
   and aligned to OpenFace's ``-simalign -simsize 48`` crop, in colour;
4. a frame where the face is lost (no face, the two networks disagree, or the five points fit the
   template worse than ``max_residual_px``) gets a copy of the nearest earlier found frame (the
   first found one at the start), and is recorded as lost; more than ``max_lost`` of the frames
   lost fails the session, rather than handing the teacher copies;
5. written atomically (:func:`emokd.core.fileio.save_npz`)::

       frames        uint8 (n, 48, 48, 3) RGB; frame 16k..16k+15 belong to label step k
       fps           64.0
       confidence    float32 (n,): the face detector's score (0 where lost)
       lost          bool (n,)
       filled_from   int64 (n,): the frame whose crop fills a lost one (-1 where found)
       source_frame  int64 (n,): the camera's frame (decode index) each output frame shows
       residual_px   float32 (n,): RMS distance of the five points from the template after alignment
       transform     float32 (n, 2, 3): the similarity from camera px to crop px (NaN where lost)
       provenance    str: JSON -- detector and versions, template, camera file (bytes, SHA-256),
                     stream (fps, first-frame time, codec, size), alignment, stimulus, counts

For a data set (:func:`make_face_frames`): every session without ``face_frames.npz``, in parallel
(joblib processes, ``n_jobs``), resumable (a session whose file exists is not redone; a file is
complete or absent), with a progress bar and one line per session; a bad session stops the run
(``on_error="raise"``) or is reported in one line and left out (``"skip"``).

How the teacher sees the crops: :func:`emokd.io.mahnob.read_frames` turns them grey (BT.601 luma),
because emokd's frame CNN and its shipped backbone take one channel (trained on grey synthetic
faces); the paper's backbone took three, and ``face_frames.npz`` keeps the colour for it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..core.fileio import save_npz, sha256
from ..errors import EmokdError
from . import faces_align, gaze, video
from .extras import MEDIAPIPE_VERSION
from .mahnob import FRAMES_FILE, find_bdf, read_raw, session_dir, stimulus_samples

log = logging.getLogger(__name__)

FORMAT = "emokd-face-frames/1"
#: at most this fraction of a session's frames may be lost (filled with a neighbour) before it fails
MAX_LOST = 0.2
#: a face whose five points stay farther than this (RMS, crop px) from the template after alignment is lost:
#: no face's shape (the photograph's broad smile: 2.6 px), but landmarks thrown about by a failed fit
MAX_RESIDUAL_PX = 8.0
#: the gaze file's movie duration may differ from the Status channel's stimulus by this much (s)
GAZE_SLACK_S = 1.0


@dataclass(frozen=True)
class FaceFrames:
    """The aligned face frames of a stimulus period (what ``face_frames.npz`` holds but the provenance).

    Attributes
    ----------
    frames : ndarray of uint8, shape (n_frames, 48, 48, 3)
        RGB crops at 64 fps; frame m is at m / 64 s after the stimulus start.
    confidence : ndarray of float32, shape (n_frames,)
    lost : ndarray of bool, shape (n_frames,)
    filled_from : ndarray of int64, shape (n_frames,)
    source_frame : ndarray of int64, shape (n_frames,)
    residual_px : ndarray of float32, shape (n_frames,)
    transform : ndarray of float32, shape (n_frames, 2, 3)
        Camera px -> crop px of each frame's own face (NaN where lost).
    info : emokd.io.video.VideoInfo
    n_moved_inside : int
        Output frames (at most one at each end) whose ffmpeg frame lay outside the period and was
        replaced by the nearest one inside.
    """

    frames: np.ndarray
    confidence: np.ndarray
    lost: np.ndarray
    filled_from: np.ndarray
    source_frame: np.ndarray
    residual_px: np.ndarray
    transform: np.ndarray
    info: video.VideoInfo
    n_moved_inside: int = 0


@dataclass(frozen=True)
class SessionFaces:
    """What happened to one session: ``status`` is ``"made"``, ``"present"`` (its file was there) or
    ``"failed"`` (``message`` says why, in one line); ``n_frames``, ``n_lost`` and ``seconds`` when made."""

    key: str
    folder: Path
    status: str
    message: str = ""
    n_frames: int = 0
    n_lost: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        """The session's log line."""
        if self.status == "made":
            return (f"{self.key} ({self.folder.name}): {self.n_frames} face frames, {self.n_lost} lost, "
                    f"{self.seconds:.1f} s")
        if self.status == "present":
            return f"{self.key} ({self.folder.name}): {FRAMES_FILE} already there"
        return f"{self.key} ({self.folder.name}): {self.message}"


def video_face_frames(camera, start_s, end_s, *, info: video.VideoInfo | None = None, detector=None,
                      max_lost: float = MAX_LOST, max_residual_px: float = MAX_RESIDUAL_PX) -> FaceFrames:
    """Align the face of every 64 fps output frame in the period [start_s, end_s) (video time, s) of a camera file.

    The frames are ffmpeg's ``fps=64`` choice (:func:`emokd.io.video.fps_choice`) for the output
    slots in the period (:func:`emokd.io.video.stimulus_slots`), kept inside it
    (:func:`emokd.io.video.within_period`).

    ``info``: the camera's :func:`emokd.io.video.probe_video` (probed when None). ``detector``: a
    callable ``rgb -> FaceFound | None`` used as a context manager; default a new
    :class:`emokd.io.faces_align.MediaPipeFaces`. Raises EmokdError when the video ends before the
    last slot or more than ``max_lost`` of the frames lose the face.
    """
    camera = Path(camera)
    info = info or video.probe_video(camera)
    slots = video.stimulus_slots(start_s, end_s)
    ffmpeg = video.fps_choice(len(slots), fps=info.fps, t0=info.t0, first=slots.start,
                              n_in=info.n_frames or None)  # (n,) input frame per output frame
    choice = video.within_period(ffmpeg, fps=info.fps, start_s=start_s, end_s=end_s)
    crops, scores, fits = {}, {}, {}
    with (detector or faces_align.MediaPipeFaces()) as find:
        for i, rgb in video.read_frames(camera, choice):
            face = find(rgb)
            if face is None:
                continue
            fit = faces_align.align_transform(face.points)
            if fit.rms_px > max_residual_px:
                continue
            crops[i], scores[i], fits[i] = faces_align.warp_face(rgb, fit), face.confidence, fit
    n = len(choice)
    found = np.array([i in crops for i in choice])
    if not found.any():
        raise EmokdError(f"{camera}: no face found in any of the {n} stimulus frames")
    lost = ~found
    if lost.mean() > max_lost:
        raise EmokdError(f"{camera}: the face is lost in {lost.sum()} of {n} stimulus frames ({lost.mean():.0%}, "
                         f"more than {max_lost:.0%}); not written")
    # a lost frame shows the nearest earlier found frame, or the first found one before it
    last_found = np.maximum.accumulate(np.where(found, np.arange(n), -1))
    fill = np.where(last_found >= 0, last_found, np.flatnonzero(found)[0])
    shown = choice[fill]
    return FaceFrames(
        frames=np.stack([crops[i] for i in shown]),
        confidence=np.array([scores[i] if f else 0.0 for i, f in zip(choice, found)], dtype=np.float32),
        lost=lost, filled_from=np.where(lost, fill, -1).astype(np.int64), source_frame=choice.astype(np.int64),
        residual_px=np.array([fits[i].rms_px if f else np.nan for i, f in zip(choice, found)], dtype=np.float32),
        transform=np.array([fits[i].matrix if f else np.full((2, 3), np.nan) for i, f in zip(choice, found)],
                           dtype=np.float32),
        info=info, n_moved_inside=int((choice != ffmpeg).sum()))


def _check_gaze(folder: Path, subject: int, section: int, stimulus_s: float) -> None:
    """Warn (one line) when the gaze file has broken lines or times the movie otherwise than Status does."""
    path = gaze.find_gaze(folder, subject, section)
    if path is None:
        return
    try:
        events = gaze.read_gaze_events(path)
    except EmokdError as err:
        log.warning("%s; stimulus not cross-checked with the gaze file", err)
        return
    if events.broken:
        log.warning("%s; stimulus not cross-checked with the gaze file", events.describe_broken())
    elif events.movie_s is not None and abs(events.movie_s - stimulus_s) > GAZE_SLACK_S:
        log.warning("%s: MovieStart to MovieEnd lasts %.2f s, the Status channel's stimulus %.2f s; check the "
                    "face frames' timing", path, events.movie_s, stimulus_s)


def session_face_frames(root, subject: int, trial_no: int, *, align: str = "stimulus", detector=None,
                        max_lost: float = MAX_LOST, max_residual_px: float = MAX_RESIDUAL_PX) -> Path:
    """Make ``Sessions/<id>/face_frames.npz`` of one session from its camera (see the module's docstring).

    ``align``: where video time 0 is (:func:`emokd.io.video.stimulus_in_video`). Returns the file's
    path. Raises EmokdError, in one line naming the file and the problem, for a session without EEG,
    a Status channel without two rising edges, a missing camera file, a video shorter than the
    stimulus or a face lost too often.
    """
    folder = session_dir(root, subject, trial_no)
    if not folder.is_dir():
        raise EmokdError(f"{folder}: session folder of subject {subject} trial {trial_no} not found")
    bdf = find_bdf(folder, subject, trial_no)
    raw = read_raw(bdf)
    start, end = stimulus_samples(raw)
    sfreq = float(raw.info["sfreq"])
    _check_gaze(folder, subject, trial_no, (end - start) / sfreq)
    camera = video.find_camera(folder, trial_no)
    start_s, end_s = video.stimulus_in_video(start, end, sfreq, align=align)
    slots = video.stimulus_slots(start_s, end_s)
    info = video.probe_video(camera)
    video.check_covers(info, end_s, align=align)
    faces = video_face_frames(camera, start_s, end_s, info=info, detector=detector, max_lost=max_lost, max_residual_px=max_residual_px)
    provenance = {
        "format": FORMAT,
        "detector": faces_align.DETECTOR,
        "versions": _versions(),
        "alignment": {"method": "Umeyama similarity of 5 points onto OpenFace's -simalign -simsize 48 template",
                      "points": list(faces_align.POINTS), "template_48": faces_align.TEMPLATE_48.round(4).tolist(),
                      "sim_scale": faces_align.SIM_SCALE, "mask": False, "max_residual_px": max_residual_px},
        "camera": {"file": camera.name, "bytes": camera.stat().st_size, "sha256": sha256(camera),
                   "fps": str(info.fps), "t0_s": str(info.t0), "codec": info.codec, "width": info.width,
                   "height": info.height, "n_frames": info.n_frames},
        "timing": {"video_time_0": "BDF start" if align == "bdf" else "stimulus start", "bdf": bdf.name,
                   "sfreq": sfreq, "stimulus_samples": [int(start), int(end)],
                   "output_slots": [slots.start, slots.stop], "fps_rule": "ffmpeg fps=64: the last input frame i "
                   "with round((t0 + i / fps) * 64) <= slot, kept inside the stimulus (i / fps in it)",
                   "differ_from_ffmpeg": int(faces.n_moved_inside)},
        "lost": {"n": int(faces.lost.sum()), "of": int(faces.lost.size), "max_fraction": max_lost,
                 "filled_with": "the nearest earlier found frame (the first found frame before it)"},
    }
    path = folder / FRAMES_FILE
    save_npz(path, {"frames": faces.frames, "fps": np.float64(video.FPS_OUT), "confidence": faces.confidence,
                    "lost": faces.lost, "filled_from": faces.filled_from, "source_frame": faces.source_frame,
                    "residual_px": faces.residual_px, "transform": faces.transform, "provenance": np.array(json.dumps(provenance))})
    return path


def _versions() -> dict:
    import importlib

    out = {"mediapipe": MEDIAPIPE_VERSION}
    for name in ("emokd", "av", "cv2", "numpy"):
        try:
            out[name] = importlib.import_module(name).__version__
        except (ImportError, AttributeError):
            out[name] = None
    return out


def read_provenance(path) -> dict:
    """The provenance a ``face_frames.npz`` written by emokd records ({} for one made elsewhere)."""
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["provenance"])) if "provenance" in npz.files else {}


def _one_session(root: Path, key: str, subject: int, trial_no: int, align: str) -> SessionFaces:
    """One session in a worker: never raises for a bad session (its one line goes back in the result)."""
    folder = session_dir(root, subject, trial_no)
    if (folder / FRAMES_FILE).is_file():
        return SessionFaces(key, folder, "present")
    t0 = time.perf_counter()
    try:
        path = session_face_frames(root, subject, trial_no, align=align)
    except EmokdError as err:
        return SessionFaces(key, folder, "failed", message=str(err))
    with np.load(path) as npz:
        n, n_lost = int(npz["lost"].size), int(npz["lost"].sum())
    return SessionFaces(key, folder, "made", n_frames=n, n_lost=n_lost, seconds=time.perf_counter() - t0)


def make_face_frames(root, sessions, *, n_jobs: int = 1, align: str = "stimulus", on_error: str = "raise",
                     progress: bool = True) -> list[SessionFaces]:
    """Make ``face_frames.npz`` for every session in ``sessions`` that lacks one, in parallel.

    Parameters
    ----------
    root : path-like
        The MAHNOB-HCI-layout folder.
    sessions : iterable of (key, subject, trial_no)
    n_jobs : int
        Sessions at once (joblib processes; -1: one per core).
    align : {"bdf", "stimulus"}
    on_error : {"raise", "skip"}
        A bad session stops the run with its one-line error, or is reported and left out.
    progress : bool
        A progress bar over the sessions, and a line per session under it (else the lines go to
        the log at INFO, failures at WARNING).

    Returns
    -------
    results : list of SessionFaces, in the order of ``sessions``
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if on_error not in ("raise", "skip"):
        raise EmokdError(f"on_error={on_error!r}: choose 'raise' or 'skip'")
    if align not in video.ALIGNMENTS:
        raise EmokdError(f"align={align!r}: choose one of {video.ALIGNMENTS}")
    root = Path(root)
    todo = [(key, int(s), int(t)) for key, s, t in sessions]
    order = {key: k for k, (key, _, _) in enumerate(todo)}
    results = {}
    bar = tqdm(total=len(todo), desc="face frames", unit="session", disable=not progress)
    try:
        jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_one_session)(root, key, s, t, align) for key, s, t in todo)
        for result in jobs:
            results[result.key] = result
            bar.update()
            if progress:
                bar.write(result.line())
            elif result.status == "failed":
                log.warning("%s", result.line())
            else:
                log.info("%s", result.line())
            if result.status == "failed" and on_error == "raise":
                raise EmokdError(result.message)
    finally:
        bar.close()
    return sorted(results.values(), key=lambda r: order[r.key])
