"""A real face on video, with its motion known: the bundled photograph moved, scaled and rotated, written
as the frontal camera's AVI.

The video step (:mod:`emokd.io.facevideo`) is tested, benchmarked and shown in chapter 09 on real
faces in real containers made on the spot: scikit-image ships a photograph with a face
(``skimage.data.astronaut()``, 512 x 512 RGB) inside its wheel, so nothing is downloaded. Each frame
is that photograph under a known similarity transform (:class:`ClipMotion`: a smooth drift of
position, scale and in-plane rotation), so where its eyes are in every frame is known from where
they are in the photograph. The clip is encoded like the database's camera (an AVI at about
61 fps) with PyAV: MPEG-4 part 2, or H.264 with B-frames (``codec="h264"``), the case whose
timestamps come back out of order. Frames outside ``visible`` are black (no face), which is how the
tests see that nothing outside the stimulus period is kept; ``stamp`` writes the frame's number in
a bar code along the bottom edge, read back by :func:`read_stamp`.

Needs the ``video`` extra (PyAV, OpenCV) and scikit-image.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..core.fileio import atomic_path
from ..errors import EmokdError
from ..io.extras import require_video

#: the photograph's face centre (x, y px in the 512 x 512 image): between the eyes and the mouth
PHOTO_FACE_CENTRE = (224.0, 125.0)
#: bits of the frame-number bar code, and its cells' size (px)
STAMP_BITS, STAMP_CELL = 14, 8
#: the codecs a clip can be written with: name -> (PyAV encoder, its options)
CODECS = {"mpeg4": ("mpeg4", {"qscale": "2"}), "h264": ("libx264", {"crf": "16", "bf": "2", "preset": "veryfast"})}


def photo() -> np.ndarray:
    """The bundled photograph with a face: ``skimage.data.astronaut()``, uint8 (512, 512, 3) RGB."""
    try:
        from skimage import data
    except ImportError:
        raise EmokdError("a clip of the bundled photograph needs scikit-image: pip install scikit-image") from None
    return data.astronaut()


@dataclass(frozen=True)
class ClipMotion:
    """The pose of the photograph in each frame: ``frame = shift + R(angle) * scale * (photo - centre)``.

    Attributes
    ----------
    shift_px : ndarray, shape (n_frames, 2)
        Where the photograph's face centre lands (x, y px in the frame).
    scale : ndarray, shape (n_frames,)
        Photograph px -> frame px.
    angle_deg : ndarray, shape (n_frames,)
        In-plane rotation, degrees (positive: counter-clockwise on screen).
    """

    shift_px: np.ndarray
    scale: np.ndarray
    angle_deg: np.ndarray

    def matrix(self, i: int) -> np.ndarray:
        """The (2, 3) affine map from photograph px to frame px of frame ``i``."""
        a = np.radians(self.angle_deg[i])
        rot = self.scale[i] * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # y down: CCW on screen
        t = self.shift_px[i] - rot @ np.asarray(PHOTO_FACE_CENTRE)
        return np.hstack([rot, t[:, None]])

    def apply(self, i: int, points) -> np.ndarray:
        """Photograph points (n, 2) -> their place in frame ``i`` (n, 2)."""
        m = self.matrix(i)
        return np.asarray(points, dtype=np.float64) @ m[:, :2].T + m[:, 2]


def clip_motion(n_frames: int, *, fps: float, size=(320, 240), eye_distance_px: float = 60.0,
                max_shift_px: float = 20.0, max_scale: float = 0.1, max_angle_deg: float = 8.0,
                seed: int = 0) -> ClipMotion:
    """A smooth, known head motion: each of x, y, log-scale and angle a sum of two sinusoids of random
    phase (periods 1.5-6 s), reaching at most the given bounds; the face's eyes are about
    ``eye_distance_px`` apart at scale 1 (the database's camera: about 60-70 px)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps

    def wave(bound):
        periods, phases = rng.uniform(1.5, 6.0, 2), rng.uniform(0, 2 * np.pi, 2)
        return bound * 0.5 * (np.sin(2 * np.pi * t / periods[0] + phases[0]) + np.sin(2 * np.pi * t / periods[1] + phases[1]))

    centre = np.array(size, dtype=np.float64) / 2
    shift = centre + np.stack([wave(max_shift_px), wave(max_shift_px)], axis=1)
    base = eye_distance_px / 44.0  # the photograph's eyes are about 44 px apart
    return ClipMotion(shift_px=shift, scale=base * np.exp(wave(np.log1p(max_scale))), angle_deg=wave(max_angle_deg))


def stamp_frame(frame: np.ndarray, number: int) -> None:
    """Write ``number`` as a bar code of :data:`STAMP_BITS` black/white cells along the bottom edge, in place."""
    h = frame.shape[0]
    for b in range(STAMP_BITS):
        frame[h - STAMP_CELL - 2:h - 2, 2 + b * STAMP_CELL * 2:2 + b * STAMP_CELL * 2 + STAMP_CELL] = \
            255 if (number >> b) & 1 else 0


def read_stamp(frame: np.ndarray) -> int:
    """The number :func:`stamp_frame` wrote (read from the cells' centres, so it survives compression)."""
    h, c = frame.shape[0], STAMP_CELL
    cells = [frame[h - c - 2 + c // 4:h - 2 - c // 4, 2 + b * c * 2 + c // 4:2 + b * c * 2 + c - c // 4].mean()
             for b in range(STAMP_BITS)]
    return sum(1 << b for b, v in enumerate(cells) if v > 127)


def render_frames(motion: ClipMotion, *, size=(320, 240), visible=None, stamp: bool = True, image=None):
    """Yield the clip's frames, uint8 (height, width, 3) RGB: the photograph under ``motion``.

    ``visible`` (n_frames,) bool: frames where it is False are black (no face). ``stamp``: the frame
    number in a bar code along the bottom edge.
    """
    cv2 = require_video("cv2")
    image = photo() if image is None else image
    n = len(motion.scale)
    for i in range(n):
        if visible is not None and not visible[i]:
            frame = np.zeros((size[1], size[0], 3), np.uint8)
        else:
            frame = cv2.warpAffine(image, motion.matrix(i), tuple(size), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
        if stamp:
            stamp_frame(frame, i)
        yield frame


def write_avi(path, frames, *, fps=Fraction(61), size=(320, 240), codec: str = "mpeg4") -> Path:
    """Encode RGB frames (an iterable of uint8 (height, width, 3)) into an AVI, atomically.

    ``codec``: ``"mpeg4"`` (MPEG-4 part 2, no B-frames) or ``"h264"`` (libx264 with two B-frames).
    """
    if codec not in CODECS:
        raise EmokdError(f"codec={codec!r}: choose one of {sorted(CODECS)}")
    av = require_video("av")
    encoder, options = CODECS[codec]
    path = Path(path)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="avi") as out:
            stream = out.add_stream(encoder, rate=Fraction(fps).limit_denominator(10**6), options=dict(options))
            stream.width, stream.height, stream.pix_fmt = int(size[0]), int(size[1]), "yuv420p"
            for rgb in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return path


#: the camera file a clip is written as (the database's naming; the date is the first session's)
CAMERA_NAME = "P{subject}-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_{section}.avi"


@dataclass(frozen=True)
class CameraClip:
    """A camera file written into a session, and what is known about it.

    Attributes
    ----------
    path : Path
    motion : ClipMotion
        The photograph's pose in every frame.
    visible : ndarray of bool, shape (n_frames,)
        Frames that show the face (the others are black).
    fps : Fraction
    stimulus_s : tuple of float
        The stimulus period in video time (s), from the session's Status channel.
    """

    path: Path
    motion: ClipMotion
    visible: np.ndarray
    fps: Fraction
    stimulus_s: tuple


def write_camera(root, subject: int, trial_no: int, *, codec: str = "mpeg4", fps=Fraction(61), size=(320, 240),
                 seed: int = 0, black_outside: bool = False, align: str = "stimulus", stamp: bool = True,
                 **motion) -> CameraClip:
    """Write a session's frontal camera file: the photograph in motion, as long as the video the
    database would have (from the BDF's start, or from the stimulus start with ``align="stimulus"``,
    to the BDF's end).

    ``black_outside``: frames before the stimulus start or from its end on are black. ``stamp``: the
    frame number in a bar code along the bottom edge (:func:`stamp_frame`).
    ``motion``: bounds for :func:`clip_motion` (``max_shift_px``, ``max_scale``, ``max_angle_deg``,
    ``eye_distance_px``).
    """
    from ..io import mahnob, video

    folder = mahnob.session_dir(root, subject, trial_no)
    raw = mahnob.read_raw(mahnob.find_bdf(folder, subject, trial_no))
    start, end = mahnob.stimulus_samples(raw)
    sfreq = float(raw.info["sfreq"])
    start_s, end_s = video.stimulus_in_video(start, end, sfreq, align=align)
    offset = 0 if align == "bdf" else start
    fps = Fraction(fps).limit_denominator(10**6)
    n = int((raw.n_times - offset) / sfreq * fps)
    t = np.arange(n) / fps
    visible = (t >= start_s) & (t < end_s) if black_outside else np.ones(n, bool)
    moves = clip_motion(n, fps=float(fps), size=size, seed=seed, **motion)
    path = write_avi(folder / CAMERA_NAME.format(subject=subject, section=trial_no),
                     render_frames(moves, size=size, visible=visible, stamp=stamp), fps=fps, size=size, codec=codec)
    return CameraClip(path=path, motion=moves, visible=visible, fps=fps, stimulus_s=(float(start_s), float(end_s)))
