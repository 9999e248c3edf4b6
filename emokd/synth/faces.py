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
coordinates, which mirrors them for free. :func:`render_faces` draws them in five
stages, one function each: ``_draw_head`` (background, hair, skin),
``_draw_eyes_and_brows``, ``_draw_nose``, ``_draw_mouth`` and
``_light_and_quantise`` (lighting, pixel noise, rounding to uint8).

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
pixel box they can reach (given the pose bounds), not on the whole image
(CHANGELOG.md records how fast); the results do not depend on the batch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from ..errors import EmokdError

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


#: the uniform range (px at 48 x 48) of each shape field of a FaceIdentity, in draw order
_SHAPE_RANGES_PX = {
    "face_half_width": (13.5, 16.0), "face_half_height": (17.0, 19.5), "face_offset_y": (0.5, 2.0),
    "hair_top": (2.5, 5.0), "hair_side": (0.8, 2.0), "eye_spacing": (6.3, 7.8), "eye_y": (-5.0, -3.0),
    "eye_half_height": (1.5, 2.0), "iris_radius": (1.2, 1.6), "brow_gap": (3.4, 4.4),
    "brow_half_length": (2.8, 3.8), "brow_half_thickness": (0.55, 0.95), "nose_length": (3.0, 5.0),
    "nose_y": (3.0, 4.5), "mouth_y": (8.5, 10.5), "mouth_half_width": (4.5, 6.0),
    "lip_half_thickness": (0.8, 1.2),
}


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
    # face shape, feature positions and sizes: uniform draws, in this order
    shape = {name: u(lo, hi) for name, (lo, hi) in _SHAPE_RANGES_PX.items()}
    return FaceIdentity(
        **shape,
        eye_half_width=eye_half_width,
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
    values = np.asarray(expression, dtype=np.float64)
    return _SAT * np.tanh((identity.baseline_offset + identity.expressivity * values) / _SAT)


def frame_targets(expression, *, identity: FaceIdentity, frames_per_step: int, blink_times_s=None,
                  step_rate_hz: float = 4.0) -> dict[str, np.ndarray]:
    """What the renderer knows of every frame of :func:`render_faces` (same arguments).

    Returns ``{"valence": ..., "expression": ..., "eye_closure": ...}``, each of
    shape (n_steps * frames_per_step,): the valence signal interpolated to the
    frame times (SD units), the expression drawn on the face
    (:func:`drawn_expression`) and how closed the eyes are by a blink (0 open,
    1 closed). Facial-expression data sets label faces with such quantities; the
    face backbone (:mod:`emokd.nn.backbone`) is pretrained on them.
    """
    values = _check_expression(expression)
    per_step = _check_pos_int(frames_per_step, "frames_per_step")
    time_s = np.arange(values.size * per_step) / (float(step_rate_hz) * per_step)
    valence = np.interp(time_s, np.arange(values.size) / float(step_rate_hz), values)
    return {"valence": valence, "expression": drawn_expression(valence, identity),
            "eye_closure": _blink_closure(time_s, _check_blinks(blink_times_s))}


def _as_1d(value, name: str, what: str, dim: str, *, got: str) -> np.ndarray:
    """``value`` as a 1-D float array, or an EmokdError naming ``name`` and what it got."""
    try:
        values = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EmokdError(f"{name} must be a 1-D array of {what}, got {got}") from None
    if values.ndim != 1:
        raise EmokdError(f"{name} must be 1-D ({dim},), got shape {values.shape}")
    return values


def _check_expression(expression) -> np.ndarray:
    values = _as_1d(expression, "expression", "numbers", "n_steps", got=type(expression).__name__)
    if values.size == 0:
        raise EmokdError("expression is empty: need at least one step")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise EmokdError(
            f"expression holds NaN or infinite values, first at index {bad[0]}: {values[bad[0]]!r}"
        )
    return values


def _check_pos_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EmokdError(f"{name} must be a positive int, got {name}={value!r}")
    return int(value)


def _check_blinks(blink_times_s) -> np.ndarray:
    if blink_times_s is None:
        return np.empty(0)
    blinks = _as_1d(blink_times_s, "blink_times_s", "seconds", "n_blinks", got=repr(blink_times_s))
    if not np.all(np.isfinite(blinks)):
        raise EmokdError("blink_times_s holds NaN or infinite values")
    return np.sort(blinks)


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
    max_scale = math.exp(_MAX_LOG_SCALE)
    xs, ys = [], []
    for angle in (-_MAX_ROT_RAD, 0.0, _MAX_ROT_RAD):
        cos_a, sin_a = math.cos(angle), math.sin(angle)
        xs.append(max_scale * (cos_a * corners[:, 0] - sin_a * corners[:, 1]))
        ys.append(max_scale * (sin_a * corners[:, 0] + cos_a * corners[:, 1]))
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

    def __init__(self, shift_x_px, shift_y_px, rotation_rad, log_scale, cx, cy, scale_px):
        face_per_px = np.exp(-log_scale) / scale_px  # face units per pixel
        self.cos = _f32(np.cos(rotation_rad) * face_per_px)  # (B, 1, 1)
        self.sin = _f32(np.sin(rotation_rad) * face_per_px)
        self.origin_x = _f32(cx + shift_x_px)  # image position of the face origin, px
        self.origin_y = _f32(cy + shift_y_px)

    def coords(self, box: _Box):
        """Face coordinates ``x, y`` (face px at 48 x 48) of the pixels in ``box``."""
        cols = np.arange(box.c0, box.c1, dtype=np.float32).reshape(1, 1, -1)
        rows = np.arange(box.r0, box.r1, dtype=np.float32).reshape(1, -1, 1)
        px = cols - self.origin_x  # (B, 1, w)
        py = rows - self.origin_y  # (B, h, 1)
        x = self.cos * px + self.sin * py  # (B, h, w)
        y = self.cos * py - self.sin * px
        return x, y


# --------------------------------------------------------------------------- #
# what changes from frame to frame, and what does not


@dataclass(frozen=True)
class _FrameParams:
    """Per-frame parameters of a render, each an ndarray of shape (n_frames,), float64.

    Pose: ``shift_x_px``, ``shift_y_px`` (image px), ``rotation_rad``,
    ``log_scale``. Lighting: ``light_gain`` (factor), ``light_offset`` (grey
    levels), ``light_gradient`` (fraction at the image edge). Features (face px):
    ``eye_half_height``; the brows' inner end ``brow_inner_x``, ``brow_inner_y``
    and outer height ``brow_outer_y``; the mouth's ``mouth_half_width`` and
    ``mouth_curvature`` (its corners sit ``0.6 * curvature`` px above its centre
    line).
    """

    shift_x_px: np.ndarray
    shift_y_px: np.ndarray
    rotation_rad: np.ndarray
    log_scale: np.ndarray
    light_gain: np.ndarray
    light_offset: np.ndarray
    light_gradient: np.ndarray
    eye_half_height: np.ndarray
    brow_inner_x: np.ndarray
    brow_inner_y: np.ndarray
    brow_outer_y: np.ndarray
    mouth_half_width: np.ndarray
    mouth_curvature: np.ndarray


def _frame_params(values, identity: FaceIdentity, *, rate_hz: float, frames_per_step: int, blinks,
                  rng) -> _FrameParams:
    """Expression, pose, lighting and blinks at every frame.

    ``values`` (n_steps,) is the expression at ``rate_hz``, interpolated to the
    n_steps * frames_per_step frame times; ``blinks`` (n_blinks,) are sorted blink
    times, s. All randomness of a render except the pixel noise is drawn here, in a
    fixed order.
    """
    n_frames = values.size * frames_per_step
    dt = 1.0 / (rate_hz * frames_per_step)
    time_s = np.arange(n_frames) * dt  # (n_frames,)
    shown = drawn_expression(np.interp(time_s, np.arange(values.size) / rate_hz, values), identity)
    smile = np.maximum(shown, 0.0)
    frown = np.maximum(-shown, 0.0)
    eye_open = (1.0 - 0.25 * smile + 0.08 * frown) * (1.0 - 0.97 * _blink_closure(time_s, blinks))
    brow_y = identity.eye_y - identity.brow_gap
    # keyword arguments are evaluated in order: this is the fixed order of the draws from rng
    return _FrameParams(
        shift_x_px=_jitter(rng, n_frames, dt, _MAX_SHIFT_PX, 1.0),
        shift_y_px=_jitter(rng, n_frames, dt, _MAX_SHIFT_PX, 1.0),
        rotation_rad=_jitter(rng, n_frames, dt, _MAX_ROT_RAD, math.radians(2.0)),
        log_scale=_jitter(rng, n_frames, dt, _MAX_LOG_SCALE, 0.02),
        light_gain=np.exp(0.15 * _slow_drift(rng, time_s)),
        light_offset=8.0 * _slow_drift(rng, time_s),
        light_gradient=identity.light_gradient + 0.12 * _slow_drift(rng, time_s),
        eye_half_height=identity.eye_half_height * eye_open,  # narrower for smiles, wider for frowns, shut in blinks
        # brows: inner end lowered and drawn in for frowns, whole brow raised for smiles
        brow_inner_x=identity.eye_spacing - identity.brow_half_length + 0.6 * frown,
        brow_inner_y=brow_y + 1.8 * frown - 0.9 * smile,
        brow_outer_y=brow_y - 0.3 * frown - 0.7 * smile,
        # mouth: y(x) = mouth_y - curvature * ((x / w)^2 - 0.4): corners at mouth_y - 0.6 curvature
        mouth_half_width=identity.mouth_half_width * (1.0 + 0.10 * smile - 0.04 * frown),
        mouth_curvature=3.2 * shown,
    )


@dataclass(frozen=True)
class _Layout:
    """Fixed geometry of a render at ``size`` x ``size`` px.

    ``scale_px`` (image px per face px), ``centre_x``, ``centre_y`` (image px of the
    face origin before the pose), the head ellipse (``head_half_width``,
    ``head_half_height``, centre height ``head_centre_y``, face px) and the height
    ``hair_bottom`` where the hair has faded out, ``brow_outer_x`` (face px), the
    pixel boxes each feature can reach under any pose, and ``x_norm``
    (size,) float32, the column positions from -1 (left edge) to 1 (right edge).
    """

    size: int
    scale_px: float
    centre_x: float
    centre_y: float
    head_half_width: float
    head_half_height: float
    head_centre_y: float
    hair_bottom: float
    brow_outer_x: float
    full_box: _Box
    eye_box: _Box
    nose_box: _Box
    mouth_box: _Box
    x_norm: np.ndarray


def _layout(identity: FaceIdentity, size: int) -> _Layout:
    """The :class:`_Layout` of ``identity``'s face in frames of ``size`` x ``size`` px."""
    scale_px = size / FACE_SIZE
    cx = (size - 1) / 2.0
    cy = (size - 1) / 2.0 + identity.face_offset_y * scale_px
    brow_y = identity.eye_y - identity.brow_gap
    eye_reach_x = identity.eye_spacing + identity.eye_half_width + 1.0
    eye_box = _box(
        -eye_reach_x, eye_reach_x,
        brow_y - 0.9 * _SAT - identity.brow_half_thickness - 1.0,
        identity.eye_y + identity.eye_half_height * 1.1 + 1.0,
        cx, cy, size,
    )
    nose_box = _box(-2.5, 2.5, identity.nose_y - identity.nose_length - 1.5, identity.nose_y + 1.5, cx, cy, size)
    mouth_reach_x = identity.mouth_half_width * (1.0 + 0.10 * _SAT) + identity.lip_half_thickness + 1.0
    mouth_reach_y = 0.6 * 3.2 * _SAT + identity.lip_half_thickness + 1.0  # corners move +-0.6 curvature
    mouth_box = _box(
        -mouth_reach_x, mouth_reach_x, identity.mouth_y - mouth_reach_y, identity.mouth_y + mouth_reach_y,
        cx, cy, size,
    )
    return _Layout(
        size=size,
        scale_px=scale_px,
        centre_x=cx,
        centre_y=cy,
        head_half_width=identity.face_half_width + identity.hair_side,
        head_half_height=identity.face_half_height + 0.5 * identity.hair_top,
        head_centre_y=-0.5 * identity.hair_top,
        hair_bottom=identity.eye_y + 5.0,
        brow_outer_x=identity.eye_spacing + identity.brow_half_length,
        full_box=_Box(0, size, 0, size),
        eye_box=eye_box,
        nose_box=nose_box,
        mouth_box=mouth_box,
        x_norm=(np.arange(size, dtype=np.float32) - np.float32(cx)) / np.float32(size / 2.0),
    )


# --------------------------------------------------------------------------- #
# the five drawing stages, back to front; each works on a batch of B frames


def _draw_head(pose: _Pose, identity: FaceIdentity, layout: _Layout, n_batch: int) -> np.ndarray:
    """Stage 1: background, head (hair, fading out below ear level) and face (skin).

    Returns
    -------
    img : ndarray of float32, shape (n_batch, size, size)
        Grey levels (0-255) before lighting.
    """
    f32 = np.float32
    size = layout.size
    img = np.full((n_batch, size, size), identity.background_grey, dtype=np.float32)
    x, y = pose.coords(layout.full_box)  # (B, size, size) each, face px
    dist = _ellipse_sdf(x, y - f32(layout.head_centre_y), f32(layout.head_half_width), f32(layout.head_half_height))
    alpha = _coverage(dist)
    fade = f32(layout.hair_bottom) - y  # hair fades out below ear level
    fade *= f32(0.35)
    np.clip(fade, 0.0, 1.0, out=fade)
    alpha *= fade
    _blend(img, alpha, f32(identity.hair_grey))
    dist = _ellipse_sdf(x, y, f32(identity.face_half_width), f32(identity.face_half_height))
    _blend(img, _coverage(dist), f32(identity.skin_grey))
    return img


def _draw_eyes_and_brows(img, pose: _Pose, identity: FaceIdentity, layout: _Layout, *, eye_half_height,
                         brow_inner_x, brow_inner_y, brow_outer_y) -> None:
    """Stage 2, in place on ``img`` (B, size, size) float32: lids, sclerae, irises and brows.

    Left and right are drawn at once on ``|x|``. The per-frame arguments are
    ndarrays of shape (B,), face px (see :class:`_FrameParams`).
    """
    f32 = np.float32
    box = layout.eye_box
    x, y = pose.coords(box)  # (B, h, w) each, face px
    np.abs(x, out=x)
    region = img[:, box.r0:box.r1, box.c0:box.c1]  # a view: drawing on it draws on img
    x_eye = x - f32(identity.eye_spacing)
    y_eye = y - f32(identity.eye_y)
    half_height = _f32(np.maximum(eye_half_height, 0.05))  # (B, 1, 1)
    # dark lid/lash outline; left alone as a line when the eye is closed
    lid = _ellipse_sdf(x_eye, y_eye, f32(identity.eye_half_width + 0.4), half_height + f32(0.5), thin=True)
    lid = _coverage(lid)
    lid *= f32(0.85)
    _blend(region, lid, f32(identity.brow_grey))
    sclera = _coverage(_ellipse_sdf(x_eye, y_eye, f32(identity.eye_half_width), half_height, thin=True))
    iris = np.square(x_eye)
    iris += np.square(y_eye)
    np.sqrt(iris, out=iris)
    iris -= f32(identity.iris_radius)
    iris = _coverage(iris)
    iris *= sclera  # the iris is clipped to the sclera
    _blend(region, sclera, f32(identity.sclera_grey))
    _blend(region, iris, f32(identity.iris_grey))
    dist = _segment_sdf(
        x, y, _f32(brow_inner_x), _f32(brow_inner_y), f32(layout.brow_outer_x),
        _f32(brow_outer_y), f32(identity.brow_half_thickness),
    )
    _blend(region, _coverage(dist), f32(identity.brow_grey))


def _draw_nose(img, pose: _Pose, identity: FaceIdentity, layout: _Layout) -> None:
    """Stage 3, in place on ``img`` (B, size, size) float32: a faint short vertical line with a soft edge."""
    f32 = np.float32
    box = layout.nose_box
    x, y = pose.coords(box)  # (B, h, w) each, face px
    dist = _segment_sdf(
        x, y, f32(0.0), f32(identity.nose_y - identity.nose_length), f32(0.0),
        f32(identity.nose_y), f32(0.6),
    )
    alpha = _coverage(dist)
    alpha *= f32(0.6)
    _blend(img[:, box.r0:box.r1, box.c0:box.c1], alpha, f32(identity.nose_grey))


def _draw_mouth(img, pose: _Pose, identity: FaceIdentity, layout: _Layout, *, half_width, curvature) -> None:
    """Stage 4, in place on ``img`` (B, size, size) float32: a thick parabolic arc, drawn on ``|x|``.

    ``half_width`` and ``curvature`` are ndarrays of shape (B,), face px; the arc
    is ``y(x) = mouth_y - curvature * ((x / half_width)^2 - 0.4)`` for
    ``|x| <= half_width``, its distance taken to first order.
    """
    f32 = np.float32
    box = layout.mouth_box
    x, y = pose.coords(box)  # (B, h, w) each, face px
    np.abs(x, out=x)
    width = _f32(half_width)  # (B, 1, 1)
    curv = _f32(curvature)  # (B, 1, 1)
    x_arc = np.minimum(x, width)  # clamp to the arc's extent
    beyond = x - x_arc  # distance beyond the corner, along x
    x_rel = x_arc / width
    y_arc = np.square(x_rel)
    y_arc -= f32(0.4)
    y_arc *= -curv
    y_arc += f32(identity.mouth_y)
    dist = y - y_arc
    slope = x_rel * (2.0 * curv / width)
    np.square(slope, out=slope)
    slope += f32(1.0)
    np.square(dist, out=dist)
    dist /= slope  # squared perpendicular distance (first order)
    np.square(beyond, out=beyond)
    dist += beyond
    np.sqrt(dist, out=dist)
    dist -= f32(identity.lip_half_thickness)
    _blend(img[:, box.r0:box.r1, box.c0:box.c1], _coverage(dist), f32(identity.lip_grey))


def _light_and_quantise(img, layout: _Layout, *, gain, offset, gradient, rng) -> np.ndarray:
    """Stage 5: ``img * gain * (1 + gradient * x_norm) + offset``, pixel noise, rounding.

    ``img`` (B, size, size) float32 is modified in place; ``gain``, ``offset``
    (grey levels) and ``gradient`` are ndarrays of shape (B,). Draws the noise
    (``_NOISE_GREY`` grey levels SD) from ``rng``.

    Returns
    -------
    frames : ndarray of uint8, shape (B, size, size)
    """
    f32 = np.float32
    light = _f32(gain) * (f32(1.0) + _f32(gradient) * layout.x_norm.reshape(1, 1, -1))
    img *= light
    img += _f32(offset)
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    noise *= f32(_NOISE_GREY)
    img += noise
    img += f32(0.5)
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8)


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
    values = _check_expression(expression)
    frames_per_step = _check_pos_int(frames_per_step, "frames_per_step")
    size = _check_pos_int(size, "size")
    if not isinstance(identity, FaceIdentity):
        raise EmokdError(f"identity must be a FaceIdentity, got {type(identity).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise EmokdError(f"rng must be a numpy.random.Generator, got rng={rng!r}")
    try:
        rate_hz = float(step_rate_hz)
    except (TypeError, ValueError):
        rate_hz = float("nan")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise EmokdError(
            f"step_rate_hz must be a positive number of Hz, got step_rate_hz={step_rate_hz!r}"
        )
    blinks = _check_blinks(blink_times_s)

    params = _frame_params(values, identity, rate_hz=rate_hz, frames_per_step=frames_per_step, blinks=blinks,
                           rng=rng)
    layout = _layout(identity, size)
    n_frames = values.size * frames_per_step

    out = np.empty((n_frames, size, size), dtype=np.uint8)
    for first in range(0, n_frames, BATCH_FRAMES):
        batch = slice(first, min(first + BATCH_FRAMES, n_frames))
        pose = _Pose(params.shift_x_px[batch], params.shift_y_px[batch], params.rotation_rad[batch],
                     params.log_scale[batch], layout.centre_x, layout.centre_y, layout.scale_px)
        img = _draw_head(pose, identity, layout, batch.stop - batch.start)  # (B, size, size) float32
        _draw_eyes_and_brows(img, pose, identity, layout, eye_half_height=params.eye_half_height[batch],
                             brow_inner_x=params.brow_inner_x[batch], brow_inner_y=params.brow_inner_y[batch],
                             brow_outer_y=params.brow_outer_y[batch])
        _draw_nose(img, pose, identity, layout)
        _draw_mouth(img, pose, identity, layout, half_width=params.mouth_half_width[batch],
                    curvature=params.mouth_curvature[batch])
        out[batch] = _light_and_quantise(img, layout, gain=params.light_gain[batch],
                                         offset=params.light_offset[batch],
                                         gradient=params.light_gradient[batch], rng=rng)
    return out
