"""The frontal colour camera of a MAHNOB-HCI session: find its file, read its frames, choose them at
64 fps as ffmpeg's ``fps`` filter does, and keep the stimulus period.

The paper resampled the camera (about 61 fps) to 64 fps with ffmpeg (``-vf fps=64``) and gave the
result to OpenFace; emokd does the same choice of frames without a second encode:

* :func:`find_camera` -- the session's ``P<s>-Rec1-<date>_C1 trigger _C_Section_<section>.avi``
  (``C1``: the frontal colour camera; note the ``_C_Section``);
* :func:`probe_video` -- its frame rate, size, codec and the time ffmpeg gives its first frame
  (:class:`VideoInfo`);
* :func:`fps_choice` -- which input frame fills each 64 fps output slot, ffmpeg's rule;
* :func:`stimulus_slots` -- the output slots inside the stimulus period;
* :func:`read_frames` -- decode (PyAV) and yield the frames asked for, in order.

Timing. ffmpeg's ``fps`` filter puts input frame i at output slot ``round(t_i * 64)`` (half away
from zero) and fills output slot n with the *last* input frame whose slot is <= n (a frame is
repeated where 61 fps leaves a slot empty, dropped where two land in one). Output frame m of the
file it writes is slot ``s0 + m``, where ``s0`` is the first frame's slot. The times ``t_i`` are
the decode index over the stream's average rate plus the time of the first decoded frame,
``t_i = t0 + i / fps``: an AVI has no presentation times, and with H.264 and B-frames the pts that
PyAV hands back arrive out of order (they are reordered decode times), while ffmpeg times the
frames from their decode times, which start ``t0`` (one or two frame intervals: the B-frame
delay) after zero. ``tests/io/test_video.py`` checks the rule against the ffmpeg binary of
imageio-ffmpeg on MPEG-4 and on H.264 with B-frames.

The stimulus period. Frame 0 of the face frames is the stimulus start, the first rising edge of
Status in the BDF (:func:`emokd.io.mahnob.find_stimulus`), as the EEG is cut. The camera's frame 0
is taken to be the stimulus onset (``align="stimulus"``, the default): every public loader of the
database takes it so (DESIGN.md), and the video runs past the stimulus end. ``align="bdf"``
assumes instead that the camera started with the BDF recording (both trimmed to the same section,
30 s before and after the stimulus), so that the stimulus starts ``start / sfreq`` seconds into the
video; a user whose copy shows that can say so. Nobody here has checked either on a real copy. Either way only output slots
whose time lies inside [stimulus start, stimulus end) are kept: ``ceil(T_start * 64)`` up to
``ceil(T_end * 64) - 1``. ffmpeg's choice for the first kept slot can be the last frame captured
before the start (a slot repeats the last frame before it), and for the last one a frame captured
up to 1/128 s after the end (rounding); :func:`within_period` replaces such a frame by the first
(last) frame captured inside the period, so nothing outside it is kept, and at most one frame at
each end differs from ffmpeg's choice. A video that ends before the stimulus does is refused
(:func:`check_covers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import EmokdError
from .extras import require_video

#: the face frames' rate: 16 frames per 4 Hz label step (the paper: ffmpeg ``fps=64``)
FPS_OUT = 64
#: how the session's frontal colour camera file is named (``{section}`` = the session's section)
CAMERA_PATTERN = "*_C1 trigger _C_Section_{section}.avi"
#: where video time 0 lies: at the start of the BDF recording, or at the stimulus start
ALIGNMENTS = ("bdf", "stimulus")


@dataclass(frozen=True)
class VideoInfo:
    """What emokd needs to know of a video stream before decoding it.

    Attributes
    ----------
    path : Path
    fps : Fraction
        The stream's average frame rate (frames/s), e.g. ``Fraction(61, 1)``.
    t0 : Fraction
        The time (s) ffmpeg gives the first decoded frame: its decode time minus the stream's
        start, 0 without B-frames, one or two frame intervals with them.
    n_frames : int
        Frames the container declares (an AVI's header); 0 when it does not say.
    width, height : int
        Frame size (px).
    codec : str
        The decoder's name (``"h264"``, ``"mpeg4"``, ...).
    """

    path: Path
    fps: Fraction
    t0: Fraction
    n_frames: int
    width: int
    height: int
    codec: str

    @property
    def duration_s(self) -> float:
        """How long the declared frames last (s): ``n_frames / fps``."""
        return float(self.n_frames / self.fps)


def find_camera(folder, section: int) -> Path:
    """The session's frontal colour camera file, ``*_C1 trigger _C_Section_<section>.avi``.

    Raises EmokdError naming the folder when there is none or more than one.
    """
    folder = Path(folder)
    found = sorted(folder.glob(CAMERA_PATTERN.format(section=int(section))))
    pattern = CAMERA_PATTERN.format(section=int(section))
    if not found:
        others = sorted(p.name for p in folder.glob("*.avi"))
        raise EmokdError(f"{folder}: missing camera file: no frontal colour camera '{pattern}' "
                         f"(other videos: {', '.join(others) or 'none'})")
    if len(found) > 1:
        raise EmokdError(f"{folder}: {len(found)} frontal colour camera files '{pattern}', expected one: "
                         f"{', '.join(p.name for p in found)}")
    return found[0]


def _open(path: Path):
    av = require_video("av")
    try:
        container = av.open(str(path))
    except Exception as err:  # PyAV raises its own error types for unreadable files
        raise EmokdError(f"{path}: not a readable video ({type(err).__name__}: {err})") from None
    if not container.streams.video:
        container.close()
        raise EmokdError(f"{path}: holds no video stream")
    return container


def probe_video(path) -> VideoInfo:
    """Read a video's frame rate, size, codec and first-frame time (decodes its first frame)."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or rate <= 0:
            raise EmokdError(f"{path}: the video stream declares no frame rate")
        tb = stream.time_base
        first = next(iter(container.decode(stream)), None)
        if first is None:
            raise EmokdError(f"{path}: no frame could be decoded")
        stamp = first.dts if first.dts is not None else (first.pts if first.pts is not None else 0)
        start = stream.start_time if stream.start_time is not None else 0
        t0 = Fraction(max(stamp - start, 0)) * Fraction(tb.numerator, tb.denominator)
        return VideoInfo(path=path, fps=Fraction(rate.numerator, rate.denominator), t0=t0,
                         n_frames=int(stream.frames or 0), width=int(stream.codec_context.width),
                         height=int(stream.codec_context.height), codec=stream.codec_context.name)


def _slots(index: np.ndarray, fps: Fraction, t0: Fraction, fps_out: int) -> np.ndarray:
    """ffmpeg's output slot of input frames ``index``: ``round((t0 + i / fps) * fps_out)``, half up,
    in exact integer arithmetic (int64)."""
    # (t0 + i q/p) * f = (a p + i q b) f / (b p) with t0 = a/b, fps = p/q
    a, b = t0.numerator, t0.denominator
    p, q = fps.numerator, fps.denominator
    num = (a * p + np.asarray(index, dtype=np.int64) * (q * b)) * fps_out
    den = b * p
    return (2 * num + den) // (2 * den)


def fps_choice(n_out: int, *, fps: Fraction, t0: Fraction = Fraction(0), n_in: int | None = None,
               first: int = 0, fps_out: int = FPS_OUT) -> np.ndarray:
    """The input frame that ffmpeg's ``fps=fps_out`` filter writes as output frames ``first .. first + n_out - 1``.

    Parameters
    ----------
    n_out : int
        How many output frames.
    fps : Fraction
        The input's average frame rate; input frame i is at ``t0 + i / fps`` s.
    t0 : Fraction
        Time of input frame 0 (s; :attr:`VideoInfo.t0`).
    n_in : int, optional
        Input frames there are; output frames past the last one repeat it (ffmpeg's end of
        stream). Default: as many as needed.
    first : int
        Output frame to start at.
    fps_out : int

    Returns
    -------
    index : ndarray of int64, shape (n_out,)
        ``index[m]`` is the input frame of output frame ``first + m``: the last input frame i
        whose slot ``round((t0 + i / fps) * fps_out)`` is <= ``s0 + first + m``, with ``s0`` the slot
        of input frame 0.
    """
    if n_out < 0 or first < 0:
        raise EmokdError(f"fps_choice: n_out={n_out} and first={first} must be >= 0")
    fps, t0 = Fraction(fps), Fraction(t0)
    if fps <= 0:
        raise EmokdError(f"fps_choice: fps={fps} must be > 0")
    wanted = int(_slots(np.array([0]), fps, t0, fps_out)[0]) + first + np.arange(n_out, dtype=np.int64)
    # input frames up to one past the last wanted slot are enough to place every output
    last_t = Fraction(int(wanted[-1]) + 1 if n_out else 0, fps_out)
    need = max(int(math.ceil((last_t - t0) * fps)) + 2, 1)
    n = need if n_in is None else min(need, int(n_in))
    slots = _slots(np.arange(n), fps, t0, fps_out)  # non-decreasing
    return (np.searchsorted(slots, wanted, side="right") - 1).astype(np.int64)


def stimulus_slots(start_s: Fraction, end_s: Fraction, fps_out: int = FPS_OUT) -> range:
    """Output frames whose time ``m / fps_out`` lies in [start_s, end_s) (video time, s)."""
    start_s, end_s = Fraction(start_s), Fraction(end_s)
    if end_s <= start_s:
        raise EmokdError(f"stimulus_slots: the stimulus ends ({float(end_s):.3f} s) before it starts "
                         f"({float(start_s):.3f} s)")
    return range(math.ceil(start_s * fps_out), math.ceil(end_s * fps_out))


def within_period(index, *, fps: Fraction, start_s: Fraction, end_s: Fraction) -> np.ndarray:
    """``index`` (input frames, int64) with every frame captured before ``start_s`` or at/after ``end_s``
    (frame i at ``i / fps`` s of video time) replaced by the first or last frame captured inside."""
    fps = Fraction(fps)
    first = math.ceil(Fraction(start_s) * fps)  # first i with i / fps >= start_s
    last = math.ceil(Fraction(end_s) * fps) - 1  # last i with i / fps < end_s
    return np.clip(np.asarray(index, dtype=np.int64), first, max(first, last))


def stimulus_in_video(start: int, end: int, sfreq: float, *, align: str = "stimulus") -> tuple[Fraction, Fraction]:
    """The stimulus period in video time (s), from its Status samples in the BDF.

    ``align="bdf"``: video time 0 is the first BDF sample; ``"stimulus"``: video time 0 is the
    stimulus start (see the module's docstring).
    """
    if align not in ALIGNMENTS:
        raise EmokdError(f"align={align!r}: choose one of {ALIGNMENTS}")
    rate = Fraction(sfreq).limit_denominator(10**6)
    offset = 0 if align == "bdf" else start
    return Fraction(start - offset) / rate, Fraction(end - offset) / rate


def check_covers(info: VideoInfo, end_s: Fraction, *, align: str, fps_out: int = FPS_OUT,
                 n_frames: int | None = None) -> None:
    """Raise EmokdError unless the video lasts until the stimulus ends (the last kept slot has a frame
    of its own). ``n_frames``: frames actually decoded; default the container's count."""
    n = info.n_frames if n_frames is None else n_frames
    if n <= 0:
        return  # the container does not say: read_frames finds out
    last_slot = math.ceil(Fraction(end_s) * fps_out) - 1
    have = int(_slots(np.array([n - 1]), info.fps, info.t0, fps_out)[0]) - int(_slots(np.array([0]), info.fps,
                                                                                        info.t0, fps_out)[0])
    if have < last_slot:
        lasts = float(info.t0 + Fraction(n) / info.fps)
        raise EmokdError(f"{info.path}: video shorter than the stimulus: its {n} frames at {float(info.fps):.4g} fps "
                         f"end at {lasts:.2f} s, the stimulus ends at {float(end_s):.2f} s of video time "
                         f"(video time 0 = {'BDF start' if align == 'bdf' else 'stimulus start'})")


def read_frames(path, index, *, threads: bool = True):
    """Decode a video and yield ``(i, rgb)`` for each distinct input frame ``i`` in ``index``, in order.

    Parameters
    ----------
    path : path-like
    index : array-like of int
        Input frames wanted (decode order = presentation order); repeats are yielded once.
    threads : bool
        Let the decoder use its threads (FFmpeg's frame/slice threading).

    Yields
    ------
    i : int
    rgb : ndarray of uint8, shape (height, width, 3)
        RGB.

    Raises
    ------
    EmokdError
        When the video ends before the last frame wanted (``video shorter than the stimulus``).
    """
    path = Path(path)
    wanted = np.unique(np.asarray(index, dtype=np.int64))
    if wanted.size == 0:
        return
    if wanted[0] < 0:
        raise EmokdError(f"{path}: frame {int(wanted[0])} asked for")
    av = require_video("av")
    k, last = 0, -1
    with _open(path) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        frames = enumerate(container.decode(stream))
        while True:
            try:
                i, frame = next(frames)
            except StopIteration:
                break
            except av.error.FFmpegError as err:  # a corrupt stream: name the file and where
                raise EmokdError(f"{path}: cannot decode the video after frame {last} ({err})") from None
            last = i
            if i == wanted[k]:
                yield i, frame.to_ndarray(format="rgb24")
                k += 1
                if k == wanted.size:
                    return
    raise EmokdError(f"{path}: video shorter than the stimulus: it ends after {last + 1} frames, frame "
                     f"{int(wanted[k])} is needed")
