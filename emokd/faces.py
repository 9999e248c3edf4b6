"""Synthetic 48 x 48 grey face crops whose expression follows a valence signal.

MAHNOB-HCI comes with a frontal video of each participant; the distillation
*teacher* is a small CNN that reads valence from face crops of that video. This
module stands in for those crops with a fast numpy renderer, so that the whole
pipeline runs without the (licensed) video.

What is drawn
-------------
Every frame is a cartoon face, built from a few shapes given by their signed
distance functions (SDF: the distance to the shape's outline, negative inside).
A pixel's coverage is ``clip(0.5 - d, 0, 1)`` with ``d`` in pixels, which is a
one-pixel-wide anti-aliased edge. The shapes, back to front: head (hair colour),
face ellipse (skin), two eyes (sclera ellipse with a round iris, clipped to the
sclera), two brows (thick line segments), a faint nose and the mouth (a thick
parabolic arc). Left/right features are drawn once, on ``|x|`` in face
coordinates, which mirrors them for free.

The expression value ``e`` of each frame is first mapped to a subject's own
expression ``s = S * tanh((offset + gain * e) / S)`` with ``S = 1.25``: the
subject's resting face is a bit happier or sadder (``offset``), some subjects
are more expressive (``gain``), and values beyond +-1 saturate smoothly. Then

* mouth: the arc bends up at the corners for ``s > 0`` (smile) and down for
  ``s < 0`` (frown); the corners rise / drop by about ``1.9 * s`` pixels and the
  mouth gets slightly wider when smiling;
* brows: for ``s < 0`` the inner ends are lowered and drawn together (a frown);
  for ``s > 0`` the brows are raised a little;
* eyes: narrower for smiles (cheeks push up), a little wider for frowns.

Nuisance, so that valence is learnable but not trivially so:

* pose: translation (bounded to +-2 px), in-plane rotation (bounded to +-5
  degrees) and scale (+-4 %), each the sum of a fast (0.4 s) and a slow (4 s)
  AR(1) process at the frame rate, squashed smoothly by ``tanh`` into its bound;
* lighting: a global gain, an additive offset and a left-right brightness
  gradient, each a sum of three random sinusoids with periods of 15-90 s;
* blinks at the given times (eyes fully closed for 80 ms, 200 ms in all);
* Gaussian pixel noise (3 grey levels) and rounding to uint8.

Everything random is drawn from the ``rng`` passed in, in a fixed order, so the
same seed gives the same frames.

Speed
-----
Frames are rendered in batches of :data:`BATCH_FRAMES` on a ``(batch, 48, 48)``
float32 grid; the eyes, brows, nose and mouth are evaluated only on the small
pixel box they can reach (given the pose bounds), not on the whole image.
40,000 frames take about 3 s on one CPU core (measured on an AMD EPYC
server core, numpy 2.4); the results do not depend on the batch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from .errors import EmokdError

__all__ = ["FACE_SIZE", "BATCH_FRAMES", "FaceIdentity", "drawn_expression", "frame_targets", "make_identity",
           "render_faces"]

#: Default side of the square frames, in pixels.
FACE_SIZE = 48

#: Frames rendered per batch (memory: a few float32 arrays of this many frames).
BATCH_FRAMES = 1024

# Expression saturation level: s = _SAT * tanh(x / _SAT).
_SAT = 1.25

# Pose bounds (the jitter is squashed smoothly into them).
_MAX_SHIFT_PX = 2.0
_MAX_ROT_RAD = math.radians(5.0)
_MAX_LOG_SCALE = 0.04

# Blink profile: fully closed within +-_BLINK_CLOSED_S of the blink time, open
# again linearly by +-_BLINK_HALF_S.
_BLINK_CLOSED_S = 0.04
_BLINK_HALF_S = 0.10

# Pixel noise standard deviation, grey levels.
_NOISE_GREY = 3.0


@dataclass(frozen=True)
class FaceIdentity:
    """Per-subject appearance, in pixels (at ``size=48``) and grey levels (0-255).

    Lengths are in face coordinates: ``x`` to the subject's left-right, ``y``
    downwards, origin at the face centre, before the pose jitter is applied.
    They are scaled by ``size / 48`` when rendering at another size.

    Attributes
    ----------
    face_half_width, face_half_height : float
        Semi-axes of the face ellipse, px.
    face_offset_y : float
        Vertical offset of the face centre from the image centre, px (+ = down).
    hair_top, hair_side : float
        How far the head (hair) ellipse reaches beyond the face at the top and
        at the sides, px.
    eye_spacing : float
        Half the distance between the eye centres, px.
    eye_y : float
        Height of the eye centres, px (negative: above the face centre).
    eye_half_width, eye_half_height : float
        Semi-axes of an open, neutral eye, px.
    iris_radius : float
        Radius of the iris, px.
    brow_gap : float
        Distance from the eye centre up to the brow, px.
    brow_half_length, brow_half_thickness : float
        Half length and half thickness of a brow, px.
    nose_length : float
        Length of the faint nose line, px, ending at ``nose_y``.
    nose_y : float
        Height of the bottom of the nose, px.
    mouth_y : float
        Height of the mouth, px (positive: below the face centre).
    mouth_half_width : float
        Half width of a neutral mouth, px.
    lip_half_thickness : float
        Half thickness of the mouth stroke, px.
    skin_grey, background_grey, hair_grey, brow_grey : float
        Grey levels, 0-255, before lighting.
    sclera_grey, iris_grey, lip_grey, nose_grey : float
        Grey levels of the parts, 0-255, before lighting.
    light_gradient : float
        The subject's static left-right lighting gradient (fraction of the
        brightness at the image edge, e.g. 0.1 = +10 % on the right).
    baseline_offset : float
        Subject bias: added to ``gain * expression`` before drawing (a resting
        face that is a bit happier, > 0, or sadder, < 0).
    expressivity : float
        Gain applied to the expression before drawing (dimensionless).
    """

    face_half_width: float
    face_half_height: float
    face_offset_y: float
    hair_top: float
    hair_side: float
    eye_spacing: float
    eye_y: float
    eye_half_width: float
    eye_half_height: float
    iris_radius: float
    brow_gap: float
    brow_half_length: float
    brow_half_thickness: float
    nose_length: float
    nose_y: float
    mouth_y: float
    mouth_half_width: float
    lip_half_thickness: float
    skin_grey: float
    background_grey: float
    hair_grey: float
    brow_grey: float
    sclera_grey: float
    iris_grey: float
    lip_grey: float
    nose_grey: float
    light_gradient: float
    baseline_offset: float
    expressivity: float


def make_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw a random subject appearance.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the same generator state gives the same identity.

    Returns
    -------
    FaceIdentity
        Face shape, feature positions and sizes (px at 48 x 48), grey levels
        (0-255), a subject bias ``baseline_offset`` (about N(0, 0.15), clipped to
        +-0.3) and an ``expressivity`` gain (0.7-1.3).
    """
    if not isinstance(rng, np.random.Generator):
        raise EmokdError(f"rng must be a numpy.random.Generator, got rng={rng!r}")
    u = rng.uniform
    skin = u(115.0, 195.0)
    # background either clearly darker or clearly brighter than the skin
    bg_delta = u(45.0, 90.0)
    if rng.random() < 0.5 and skin - bg_delta >= 15.0:
        background = skin - bg_delta
    elif skin + bg_delta <= 245.0:
        background = skin + bg_delta
    else:
        background = skin - bg_delta
    hair = u(15.0, 85.0)
    eye_half_width = u(2.5, 3.2)
    return FaceIdentity(
        face_half_width=u(13.5, 16.0),
        face_half_height=u(17.0, 19.5),
        face_offset_y=u(0.5, 2.0),
        hair_top=u(2.5, 5.0),
        hair_side=u(0.8, 2.0),
        eye_spacing=u(6.3, 7.8),
        eye_y=u(-5.0, -3.0),
        eye_half_width=eye_half_width,
        eye_half_height=u(1.5, 2.0),
        iris_radius=u(1.2, 1.6),
        brow_gap=u(3.4, 4.4),
        brow_half_length=u(2.8, 3.8),
        brow_half_thickness=u(0.55, 0.95),
        nose_length=u(3.0, 5.0),
        nose_y=u(3.0, 4.5),
        mouth_y=u(8.5, 10.5),
        mouth_half_width=u(4.5, 6.0),
        lip_half_thickness=u(0.8, 1.2),
        skin_grey=skin,
        background_grey=background,
        hair_grey=hair,
        brow_grey=min(hair + u(0.0, 20.0), skin - 70.0),
        sclera_grey=min(skin + u(20.0, 50.0), 240.0),
        iris_grey=u(15.0, 55.0),
        lip_grey=skin - u(55.0, 85.0),
        nose_grey=skin - u(20.0, 35.0),
        light_gradient=u(-0.1, 0.1),
        baseline_offset=float(np.clip(rng.normal(0.0, 0.15), -0.3, 0.3)),
        expressivity=u(0.7, 1.3),
    )


# --------------------------------------------------------------------------- #
# input checks


def drawn_expression(expression: np.ndarray, identity: FaceIdentity) -> np.ndarray:
    """The expression a face shows: ``S * tanh((offset + gain * e) / S)``, ``S = 1.25``.

    ``expression`` (any shape) is the valence signal in SD units; ``offset`` and
    ``gain`` are the identity's ``baseline_offset`` and ``expressivity``. This is
    what an annotator of a facial-expression data set would rate.
    """
    e = np.asarray(expression, dtype=np.float64)
    return _SAT * np.tanh((identity.baseline_offset + identity.expressivity * e) / _SAT)


def frame_targets(expression, *, identity: FaceIdentity, frames_per_step: int, blink_times_s=None,
                  step_rate_hz: float = 4.0) -> dict[str, np.ndarray]:
    """What the renderer knows of every frame of :func:`render_faces` (same arguments).

    Returns ``{"valence": ..., "expression": ..., "eye_closure": ...}``, each of
    shape (n_steps * frames_per_step,): the valence signal interpolated to the
    frame times (SD units), the expression drawn on the face
    (:func:`drawn_expression`) and how closed the eyes are by a blink (0 open,
    1 closed). Facial-expression data sets label faces with such quantities; the
    face backbone (:mod:`emokd.backbone`) is pretrained on them.
    """
    e = _check_expression(expression)
    k = _check_pos_int(frames_per_step, "frames_per_step")
    t = np.arange(e.size * k) / (float(step_rate_hz) * k)
    valence = np.interp(t, np.arange(e.size) / float(step_rate_hz), e)
    return {"valence": valence, "expression": drawn_expression(valence, identity),
            "eye_closure": _blink_closure(t, _check_blinks(blink_times_s))}


def _check_expression(expression) -> np.ndarray:
    try:
        e = np.asarray(expression, dtype=float)
    except (TypeError, ValueError):
        raise EmokdError(
            f"expression must be a 1-D array of numbers, got {type(expression).__name__}"
        ) from None
    if e.ndim != 1:
        raise EmokdError(f"expression must be 1-D (n_steps,), got shape {e.shape}")
    if e.size == 0:
        raise EmokdError("expression is empty: need at least one step")
    bad = np.flatnonzero(~np.isfinite(e))
    if bad.size:
        raise EmokdError(
            f"expression holds NaN or infinite values, first at index {bad[0]}: {e[bad[0]]!r}"
        )
    return e


def _check_pos_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EmokdError(f"{name} must be a positive int, got {name}={value!r}")
    return int(value)


def _check_blinks(blink_times_s) -> np.ndarray:
    if blink_times_s is None:
        return np.empty(0)
    try:
        b = np.asarray(blink_times_s, dtype=float)
    except (TypeError, ValueError):
        raise EmokdError(
            f"blink_times_s must be a 1-D array of seconds, got {blink_times_s!r}"
        ) from None
    if b.ndim != 1:
        raise EmokdError(f"blink_times_s must be 1-D (n_blinks,), got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise EmokdError("blink_times_s holds NaN or infinite values")
    return np.sort(b)


# --------------------------------------------------------------------------- #
# per-frame parameters (cheap, length n_frames)


def _ar1(rng: np.random.Generator, n: int, dt: float, tau: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) (discretised Ornstein-Uhlenbeck) sequence, std ``sigma``."""
    phi = math.exp(-dt / tau)
    noise = rng.standard_normal(n)
    drive = noise * (sigma * math.sqrt(1.0 - phi * phi))
    drive[0] = sigma * noise[0]  # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], drive)


def _jitter(rng, n, dt, bound, sigma) -> np.ndarray:
    """Fast (0.4 s) + slow (4 s) AR(1) jitter, squashed smoothly into +-bound."""
    x = _ar1(rng, n, dt, 0.4, 0.45 * sigma) + _ar1(rng, n, dt, 4.0, 0.9 * sigma)
    return bound * np.tanh(x / bound)


def _slow_drift(rng, t: np.ndarray) -> np.ndarray:
    """Sum of three sinusoids with periods of 15-90 s, unit variance."""
    freqs = 1.0 / rng.uniform(15.0, 90.0, size=3)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=3)
    return math.sqrt(2.0 / 3.0) * np.sin(2.0 * np.pi * t[:, None] * freqs + phases).sum(axis=1)


def _blink_closure(t: np.ndarray, blinks: np.ndarray) -> np.ndarray:
    """Eyelid closure in [0, 1] at times ``t`` (1 = fully closed)."""
    if blinks.size == 0:
        return np.zeros_like(t)
    idx = np.searchsorted(blinks, t)
    lo = blinks[np.clip(idx - 1, 0, blinks.size - 1)]
    hi = blinks[np.clip(idx, 0, blinks.size - 1)]
    dist = np.minimum(np.abs(t - lo), np.abs(t - hi))
    ramp = _BLINK_HALF_S - _BLINK_CLOSED_S
    return np.clip((_BLINK_HALF_S - dist) / ramp, 0.0, 1.0)


# --------------------------------------------------------------------------- #
# drawing helpers (all on float32 (B, h, w) arrays, distances in pixels)


def _coverage(d: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of ``d <= 0`` with a 1 px soft edge, in place."""
    np.subtract(np.float32(0.5), d, out=d)
    np.clip(d, 0.0, 1.0, out=d)
    return d


def _blend(img: np.ndarray, alpha: np.ndarray, grey) -> None:
    """``img = img + alpha * (grey - img)``, in place on ``img``."""
    tmp = np.subtract(grey, img, dtype=np.float32)
    tmp *= alpha
    img += tmp


def _ellipse_sdf(x, y, a, b, *, thin=False) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (semi-axes a, b).

    Uses ``d = k0 (k0 - 1) / k1`` with ``k0 = |(x/a, y/b)|`` and
    ``k1 = |(x/a^2, y/b^2)|``: exact on the outline's gradient, good nearby,
    which is all a 1 px soft edge needs. For very flat ellipses (a closing
    eye) it underestimates the distance beyond the ends; ``thin=True`` takes the
    maximum with the (also lower-bound) distance ``|x| - a`` to fix that.
    """
    u2 = np.square(x * (1.0 / a))
    v2 = np.square(y * (1.0 / b))
    k1 = u2 * (1.0 / np.square(a)) + v2 * (1.0 / np.square(b))
    np.sqrt(k1, out=k1)
    np.maximum(k1, np.float32(1e-6), out=k1)
    k0 = np.sqrt(u2 + v2)
    d = k0 - np.float32(1.0)
    d *= k0
    d /= k1
    if thin:
        np.maximum(d, np.abs(x) - a, out=d)
    return d


def _segment_sdf(x, y, ax, ay, bx, by, r) -> np.ndarray:
    """Signed distance to a segment a-b thickened by radius ``r`` (a capsule)."""
    dx = bx - ax
    dy = by - ay
    inv_len2 = 1.0 / (dx * dx + dy * dy)
    px = x - ax
    py = y - ay
    h = (px * (dx * inv_len2)) + (py * (dy * inv_len2))
    np.clip(h, 0.0, 1.0, out=h)
    px -= h * dx
    py -= h * dy
    np.square(px, out=px)
    np.square(py, out=py)
    px += py
    np.sqrt(px, out=px)
    px -= r
    return px


def _f32(a) -> np.ndarray:
    """Per-frame parameter as a float32 (B, 1, 1) array (or a float32 scalar)."""
    a = np.asarray(a, dtype=np.float32)
    return a.reshape(-1, 1, 1) if a.ndim else a


@dataclass
class _Box:
    """Pixel box (rows r0:r1, cols c0:c1) that a feature can reach."""

    r0: int
    r1: int
    c0: int
    c1: int


def _box(xlo, xhi, ylo, yhi, cx, cy, size) -> _Box:
    """Image pixel box covering face-coordinate box [xlo,xhi] x [ylo,yhi] under any pose."""
    corners = np.array([[xlo, ylo], [xlo, yhi], [xhi, ylo], [xhi, yhi]], dtype=float)
    smax = math.exp(_MAX_LOG_SCALE)
    xs, ys = [], []
    for ang in (-_MAX_ROT_RAD, 0.0, _MAX_ROT_RAD):
        c, s = math.cos(ang), math.sin(ang)
        xs.append(smax * (c * corners[:, 0] - s * corners[:, 1]))
        ys.append(smax * (s * corners[:, 0] + c * corners[:, 1]))
    xs = np.concatenate(xs)
    ys = np.concatenate(ys)
    margin = _MAX_SHIFT_PX * size / FACE_SIZE + 1.5
    c0 = max(0, int(math.floor(cx + xs.min() - margin)))
    c1 = min(size, int(math.ceil(cx + xs.max() + margin)) + 1)
    r0 = max(0, int(math.floor(cy + ys.min() - margin)))
    r1 = min(size, int(math.ceil(cy + ys.max() + margin)) + 1)
    return _Box(r0, max(r0, r1), c0, max(c0, c1))


class _Pose:
    """Per-frame pose of one batch, mapping pixel boxes to face coordinates."""

    def __init__(self, tx, ty, rot, log_scale, cx, cy, scale_px):
        inv = np.exp(-log_scale) / scale_px  # face units per pixel
        self.cs = _f32(np.cos(rot) * inv)
        self.sn = _f32(np.sin(rot) * inv)
        self.ox = _f32(cx + tx)  # image position of the face origin, px
        self.oy = _f32(cy + ty)

    def coords(self, box: _Box):
        """Face coordinates ``x, y`` (face px at 48 x 48) of the pixels in ``box``."""
        cols = np.arange(box.c0, box.c1, dtype=np.float32).reshape(1, 1, -1)
        rows = np.arange(box.r0, box.r1, dtype=np.float32).reshape(1, -1, 1)
        px = cols - self.ox  # (B, 1, w)
        py = rows - self.oy  # (B, h, 1)
        x = self.cs * px + self.sn * py
        y = self.cs * py - self.sn * px
        return x, y


# --------------------------------------------------------------------------- #


def render_faces(
    expression,
    *,
    identity: FaceIdentity,
    frames_per_step: int,
    rng: np.random.Generator,
    blink_times_s=None,
    step_rate_hz: float = 4.0,
    size: int = FACE_SIZE,
) -> np.ndarray:
    """Render grey face frames whose expression follows ``expression``.

    Parameters
    ----------
    expression : array_like, shape (n_steps,)
        Expression at the label rate ``step_rate_hz`` (step ``k`` at time
        ``k / step_rate_hz`` s). 0 is neutral, +1 a clear smile, -1 a clear
        frown; values beyond +-1 are allowed and saturate smoothly. Must be
        finite.
    identity : FaceIdentity
        The subject's appearance, bias and expressivity (see :func:`make_identity`).
    frames_per_step : int
        Video frames per label step (> 0); the frame rate is
        ``step_rate_hz * frames_per_step`` Hz.
    rng : numpy.random.Generator
        Source of the pose jitter, lighting drift and pixel noise; it is
        advanced. The same generator state (and inputs) gives identical
        frames. The draws depend only on the number of frames, not on
        ``expression`` or ``blink_times_s``: two renders of the same length
        from the same seed share pose, lighting and noise frame by frame.
    blink_times_s : array_like, shape (n_blinks,), optional
        Blink times in seconds from the first step. The eyes are fully closed
        within +-40 ms of each time and open again by +-100 ms. ``None`` (the
        default): no blinks. A frame rate below ~12 Hz can fall between the
        closed frames of a blink.
    step_rate_hz : float, default 4.0
        Rate of ``expression``, Hz.
    size : int, default FACE_SIZE (48)
        Side of the square frames, px. The face scales with it.

    Returns
    -------
    frames : ndarray of uint8, shape (n_steps * frames_per_step, size, size)
        Frame ``i`` is at time ``i / (step_rate_hz * frames_per_step)`` s. The
        expression is interpolated linearly between steps to the frame times;
        the frames after the last step (its last ``frames_per_step - 1``) hold
        the last value.

    Raises
    ------
    EmokdError (a ValueError)
        If ``expression`` is not 1-D and finite, ``frames_per_step`` or ``size``
        is not a positive int, ``step_rate_hz`` is not positive and finite, or
        ``blink_times_s`` is not a 1-D finite array.
    """
    e = _check_expression(expression)
    fps_step = _check_pos_int(frames_per_step, "frames_per_step")
    size = _check_pos_int(size, "size")
    if not isinstance(identity, FaceIdentity):
        raise EmokdError(f"identity must be a FaceIdentity, got {type(identity).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise EmokdError(f"rng must be a numpy.random.Generator, got rng={rng!r}")
    try:
        rate = float(step_rate_hz)
    except (TypeError, ValueError):
        rate = float("nan")
    if not (math.isfinite(rate) and rate > 0):
        raise EmokdError(
            f"step_rate_hz must be a positive number of Hz, got step_rate_hz={step_rate_hz!r}"
        )
    blinks = _check_blinks(blink_times_s)

    idn = identity
    n_frames = e.size * fps_step
    frame_rate = rate * fps_step
    dt = 1.0 / frame_rate
    t = np.arange(n_frames) * dt

    # ---- per-frame parameters (all randomness drawn here, in a fixed order) ----
    expr = np.interp(t, np.arange(e.size) / rate, e)
    s = drawn_expression(expr, idn)
    pos = np.maximum(s, 0.0)
    neg = np.maximum(-s, 0.0)

    tx = _jitter(rng, n_frames, dt, _MAX_SHIFT_PX, 1.0)
    ty = _jitter(rng, n_frames, dt, _MAX_SHIFT_PX, 1.0)
    rot = _jitter(rng, n_frames, dt, _MAX_ROT_RAD, math.radians(2.0))
    log_scale = _jitter(rng, n_frames, dt, _MAX_LOG_SCALE, 0.02)
    light_gain = np.exp(0.15 * _slow_drift(rng, t))
    light_offset = 8.0 * _slow_drift(rng, t)
    light_grad = idn.light_gradient + 0.12 * _slow_drift(rng, t)
    closure = _blink_closure(t, blinks)

    # mouth: y(x) = mouth_y - curv * ((x / w)^2 - 0.4): corners at mouth_y - 0.6 curv
    curv = 3.2 * s
    mouth_w = idn.mouth_half_width * (1.0 + 0.10 * pos - 0.04 * neg)
    # brows: inner end lowered and drawn in for frowns, whole brow raised for smiles
    brow_y = idn.eye_y - idn.brow_gap
    brow_in_x = idn.eye_spacing - idn.brow_half_length + 0.6 * neg
    brow_out_x = idn.eye_spacing + idn.brow_half_length
    brow_in_y = brow_y + 1.8 * neg - 0.9 * pos
    brow_out_y = brow_y - 0.3 * neg - 0.7 * pos
    # eyes: narrower for smiles, a bit wider for frowns; closed in blinks
    eye_open = (1.0 - 0.25 * pos + 0.08 * neg) * (1.0 - 0.97 * closure)
    eye_h = idn.eye_half_height * eye_open

    # ---- fixed geometry ----
    scale_px = size / FACE_SIZE
    cx = (size - 1) / 2.0
    cy = (size - 1) / 2.0 + idn.face_offset_y * scale_px
    head_a = idn.face_half_width + idn.hair_side
    head_b = idn.face_half_height + 0.5 * idn.hair_top
    head_cy = -0.5 * idn.hair_top
    hair_bottom = idn.eye_y + 5.0
    ex_max = idn.eye_spacing + idn.eye_half_width + 1.0
    eye_box = _box(
        -ex_max, ex_max,
        brow_y - 0.9 * _SAT - idn.brow_half_thickness - 1.0,
        idn.eye_y + idn.eye_half_height * 1.1 + 1.0,
        cx, cy, size,
    )
    nose_box = _box(-2.5, 2.5, idn.nose_y - idn.nose_length - 1.5, idn.nose_y + 1.5, cx, cy, size)
    mw_max = idn.mouth_half_width * (1.0 + 0.10 * _SAT) + idn.lip_half_thickness + 1.0
    mouth_reach = 0.6 * 3.2 * _SAT + idn.lip_half_thickness + 1.0  # corners move +-0.6 curv
    mouth_box = _box(
        -mw_max, mw_max, idn.mouth_y - mouth_reach, idn.mouth_y + mouth_reach, cx, cy, size
    )
    full = _Box(0, size, 0, size)
    xn = (np.arange(size, dtype=np.float32) - np.float32(cx)) / np.float32(size / 2.0)  # -1..1

    out = np.empty((n_frames, size, size), dtype=np.uint8)
    f32 = np.float32
    for start in range(0, n_frames, BATCH_FRAMES):
        sl = slice(start, min(start + BATCH_FRAMES, n_frames))
        nb = sl.stop - sl.start
        pose = _Pose(tx[sl], ty[sl], rot[sl], log_scale[sl], cx, cy, scale_px)

        # background, head (hair), face (skin)
        img = np.full((nb, size, size), idn.background_grey, dtype=np.float32)
        x, y = pose.coords(full)
        d = _ellipse_sdf(x, y - f32(head_cy), f32(head_a), f32(head_b))
        d = _coverage(d)
        fade = f32(hair_bottom) - y  # hair fades out below ear level
        fade *= f32(0.35)
        np.clip(fade, 0.0, 1.0, out=fade)
        d *= fade
        _blend(img, d, f32(idn.hair_grey))
        del fade
        d = _ellipse_sdf(x, y, f32(idn.face_half_width), f32(idn.face_half_height))
        _blend(img, _coverage(d), f32(idn.skin_grey))
        del x, y, d

        # eyes and brows (mirrored on |x|)
        b = eye_box
        x, y = pose.coords(b)
        np.abs(x, out=x)
        sub = img[:, b.r0:b.r1, b.c0:b.c1]
        xe = x - f32(idn.eye_spacing)
        ye = y - f32(idn.eye_y)
        eh = _f32(np.maximum(eye_h[sl], 0.05))
        # dark lid/lash outline; left alone as a line when the eye is closed
        lid = _ellipse_sdf(xe, ye, f32(idn.eye_half_width + 0.4), eh + f32(0.5), thin=True)
        lid = _coverage(lid)
        lid *= f32(0.85)
        _blend(sub, lid, f32(idn.brow_grey))
        sclera = _coverage(_ellipse_sdf(xe, ye, f32(idn.eye_half_width), eh, thin=True))
        iris = np.square(xe)
        iris += np.square(ye)
        np.sqrt(iris, out=iris)
        iris -= f32(idn.iris_radius)
        iris = _coverage(iris)
        iris *= sclera
        _blend(sub, sclera, f32(idn.sclera_grey))
        _blend(sub, iris, f32(idn.iris_grey))
        d = _segment_sdf(
            x, y, _f32(brow_in_x[sl]), _f32(brow_in_y[sl]), f32(brow_out_x),
            _f32(brow_out_y[sl]), f32(idn.brow_half_thickness),
        )
        _blend(sub, _coverage(d), f32(idn.brow_grey))
        del x, y, xe, ye, lid, sclera, iris, d

        # nose: a faint short line with a soft edge
        b = nose_box
        x, y = pose.coords(b)
        d = _segment_sdf(
            x, y, f32(0.0), f32(idn.nose_y - idn.nose_length), f32(0.0),
            f32(idn.nose_y), f32(0.6),
        )
        a = _coverage(d)
        a *= f32(0.6)
        sub = img[:, b.r0:b.r1, b.c0:b.c1]
        _blend(sub, a, f32(idn.nose_grey))
        del x, y, d, a

        # mouth: thick parabolic arc on |x|
        b = mouth_box
        x, y = pose.coords(b)
        np.abs(x, out=x)
        w = _f32(mouth_w[sl])
        c = _f32(curv[sl])
        xc = np.minimum(x, w)  # clamp to the arc's extent
        over = x - xc  # distance beyond the corner, along x
        xw = xc / w
        y_curve = np.square(xw)
        y_curve -= f32(0.4)
        y_curve *= -c
        y_curve += f32(idn.mouth_y)
        dy = y - y_curve
        slope = xw * (2.0 * c / w)
        np.square(slope, out=slope)
        slope += f32(1.0)
        np.square(dy, out=dy)
        dy /= slope  # squared perpendicular distance (first order)
        np.square(over, out=over)
        dy += over
        np.sqrt(dy, out=dy)
        dy -= f32(idn.lip_half_thickness)
        sub = img[:, b.r0:b.r1, b.c0:b.c1]
        _blend(sub, _coverage(dy), f32(idn.lip_grey))
        del x, y, xc, over, xw, y_curve, dy, slope

        # lighting: gain * (1 + gradient * x) + offset, then noise and rounding
        gmap = _f32(light_gain[sl]) * (f32(1.0) + _f32(light_grad[sl]) * xn.reshape(1, 1, -1))
        img *= gmap
        img += _f32(light_offset[sl])
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        noise *= f32(_NOISE_GREY)
        img += noise
        img += f32(0.5)
        np.clip(img, 0.0, 255.0, out=img)
        out[sl] = img.astype(np.uint8)
    return out
