"""Tests of the synthetic face renderer (emokd.synth.faces)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from emokd.errors import EmokdError
from emokd.synth.faces import FACE_SIZE, FaceIdentity, make_identity, render_faces


def _identity(seed: int) -> FaceIdentity:
    return make_identity(np.random.default_rng(seed))


def _smooth_expression(rng: np.random.Generator, n_steps: int) -> np.ndarray:
    """Random smooth expression at 4 Hz (AR(1), time constant ~8 s), mostly within +-1.2."""
    x = lfilter([1.0], [1.0, -0.97], rng.standard_normal(n_steps))
    x = (x - x.mean()) / x.std()
    return np.clip(0.6 * x, -1.5, 1.5)


def _eye_box(idn: FaceIdentity, size: int = FACE_SIZE):
    """Rows and columns (slices) around both eyes, wide enough for the pose jitter."""
    cy = (size - 1) / 2 + idn.face_offset_y + idn.eye_y
    half_w = idn.eye_spacing + idn.eye_half_width + 3
    rows = slice(int(np.floor(cy - 4)), int(np.ceil(cy + 4)) + 1)
    cols = slice(int(np.floor((size - 1) / 2 - half_w)), int(np.ceil((size - 1) / 2 + half_w)) + 1)
    return rows, cols


# --------------------------------------------------------------------------- #
# shapes, dtype, determinism


def test_shape_dtype_and_frame_count():
    frames = render_faces(
        np.linspace(-1, 1, 10),
        identity=_identity(0),
        frames_per_step=4,
        rng=np.random.default_rng(1),
    )
    assert frames.shape == (40, FACE_SIZE, FACE_SIZE)
    assert frames.dtype == np.uint8
    assert FACE_SIZE == 48
    # not blank: a face on a background spans a good range of grey levels
    assert int(frames.max()) - int(frames.min()) > 80

    small = render_faces(
        np.zeros(3), identity=_identity(0), frames_per_step=1, rng=np.random.default_rng(1), size=32
    )
    assert small.shape == (3, 32, 32) and small.dtype == np.uint8


def test_deterministic_from_rng():
    e = np.sin(np.arange(50) / 5.0)
    idn = _identity(3)
    assert _identity(3) == idn  # same seed, same identity
    assert _identity(4) != idn
    a = render_faces(e, identity=idn, frames_per_step=2, rng=np.random.default_rng(7))
    b = render_faces(e, identity=idn, frames_per_step=2, rng=np.random.default_rng(7))
    c = render_faces(e, identity=idn, frames_per_step=2, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0


def test_batches_do_not_change_the_frames(monkeypatch):
    """The batch size is a memory/speed knob only: it must not change any pixel."""
    import emokd.synth.faces as faces

    e = np.cos(np.arange(40) / 4.0)
    idn = _identity(5)
    ref = render_faces(e, identity=idn, frames_per_step=3, rng=np.random.default_rng(2))
    monkeypatch.setattr(faces, "BATCH_FRAMES", 7)
    again = render_faces(e, identity=idn, frames_per_step=3, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(ref, again)


# --------------------------------------------------------------------------- #
# timing


@pytest.mark.parametrize("frames_per_step, changed", [(4, [15, 16, 17]), (2, [8])])
def test_frame_times_via_blink(frames_per_step, changed):
    """Frame i is at i / (4 Hz * frames_per_step): a blink at 1.0 s lands on frame 16 (16 Hz)
    or frame 8 (8 Hz). Blinks draw nothing from rng, so with and without blinks the frames
    differ only around the blink."""
    e = np.zeros(10)
    idn = _identity(1)
    kw = dict(identity=idn, frames_per_step=frames_per_step)
    with_blink = render_faces(e, rng=np.random.default_rng(3), blink_times_s=[1.0], **kw)
    without = render_faces(e, rng=np.random.default_rng(3), **kw)
    differs = np.flatnonzero(np.any(with_blink != without, axis=(1, 2)))
    assert differs.tolist() == changed


def test_expression_interpolated_between_steps():
    """Steps alternate -1, +1, so half-way between steps (frame phase 2 of 4) the
    interpolated expression is exactly 0. The pose, lighting and noise draws do not depend
    on the expression, so with the same seed those frames equal a neutral render's, while
    the frames on the steps differ (and the quarter-way frames, at +-0.5, differ less)."""
    idn = _identity(2)
    n = 40
    e = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)
    frames = render_faces(e, identity=idn, frames_per_step=4, rng=np.random.default_rng(0))
    neutral = render_faces(
        np.zeros(n), identity=idn, frames_per_step=4, rng=np.random.default_rng(0)
    )
    full = np.abs(frames.astype(float) - neutral).mean(axis=(1, 2))
    diff = full[: 4 * (n - 1)]  # the frames up to the last step
    np.testing.assert_array_equal(diff[2::4], 0.0)
    assert np.all(diff[0::4] > 0.5)
    assert np.all(diff[1::4] < diff[0::4])
    assert np.all(diff[1::4] > 0.0)
    # after the last step the expression is held (+1), so those frames differ from neutral
    assert np.all(full[-3:] > 0.5)


# --------------------------------------------------------------------------- #
# learnable, but not trivially


@pytest.fixture(scope="module")
def four_subjects():
    """4 identities x 1200 steps (5 min at 4 Hz, one frame per step) with a smooth random
    expression each; frames down-sampled 2x2 to 24 x 24 to keep the ridge fits quick."""
    rng = np.random.default_rng(2024)
    xs, ys, groups, raw = [], [], [], []
    for k in range(4):
        idn = make_identity(rng)
        e = _smooth_expression(rng, 1200)
        f = render_faces(e, identity=idn, frames_per_step=1, rng=rng)
        raw.append(f)
        small = f.astype(np.float64).reshape(len(f), 24, 2, 24, 2).mean(axis=(2, 4))
        xs.append(small.reshape(len(f), -1))
        ys.append(e)
        groups.append(np.full(len(e), k))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups), np.concatenate(raw)


def test_expression_learnable_across_identities(four_subjects):
    """Ridge regression on (per-frame standardised) pixels, trained on three identities,
    predicts the expression of the held-out fourth one."""
    x, y, g, _ = four_subjects
    x = x - x.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True)
    rs = []
    for k in range(4):
        tr, te = g != k, g == k
        mu, ym = x[tr].mean(axis=0), y[tr].mean()
        a = x[tr] - mu
        w = np.linalg.solve(a.T @ a + 10.0 * np.eye(a.shape[1]), a.T @ (y[tr] - ym))
        pred = (x[te] - mu) @ w
        rs.append(np.corrcoef(pred, y[te])[0, 1])
    assert min(rs) > 0.5, rs


def test_mouth_box_brightness_is_not_enough(four_subjects):
    """A fixed mouth box's mean brightness is a poor predictor across identities: a smile and
    a frown move the lips both in and out of any fixed box, and lighting and pose shift it."""
    _, y, _, raw = four_subjects
    box = raw[:, 31:38, 18:30].astype(float).mean(axis=(1, 2))
    r = np.corrcoef(box, y)[0, 1]
    assert abs(r) < 0.95, r


def test_lighting_and_pose_change_pixels_at_constant_expression():
    """With a constant expression, frames far apart in time (lighting drift, pose) differ far
    more than pixel noise alone would (mean |diff| ~ 3.4 grey levels for noise sd 3), and
    neighbouring frames differ less than far-apart ones (the nuisance is smooth)."""
    for seed in range(3):
        f = render_faces(
            np.zeros(480),
            identity=_identity(seed),
            frames_per_step=4,
            rng=np.random.default_rng(seed),
        ).astype(float)
        idx = np.arange(0, len(f) - 960, 37)
        far = np.abs(f[idx + 960] - f[idx]).mean()  # 60 s apart
        near = np.abs(f[idx + 1] - f[idx]).mean()  # 1/16 s apart
        assert far > 10.0, far
        assert near < 0.6 * far, (near, far)


# --------------------------------------------------------------------------- #
# blinks


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_blinks_close_the_eyes(seed):
    idn = _identity(seed)
    blinks = np.array([1.0, 2.5, 4.0])
    e = np.zeros(24)
    kw = dict(identity=idn, frames_per_step=4)
    a = render_faces(e, rng=np.random.default_rng(seed + 50), blink_times_s=blinks, **kw)
    a = a.astype(float)
    b = render_faces(e, rng=np.random.default_rng(seed + 50), **kw).astype(float)
    rows, cols = _eye_box(idn)
    diff = np.abs(a - b)
    # only the eye region changes ...
    outside = diff.copy()
    outside[:, rows, cols] = 0
    assert outside.max() == 0
    idx = np.round(blinks * 16).astype(int)
    eye_a, eye_b = a[idx][:, rows, cols], b[idx][:, rows, cols]
    # ... and substantially at the blink frames
    assert np.all(np.abs(eye_a - eye_b).mean(axis=(1, 2)) > 3.0)
    # closed eyes: no bright sclera / dark iris, so the eye region has less contrast
    assert np.all(eye_a.std(axis=(1, 2)) < eye_b.std(axis=(1, 2)) - 2.0)
    # the eye region is closed in the blink frame compared with neighbouring frames too
    # (frames 6 before/after, 375 ms away, when the eyes are open again)
    eye_near = a[np.concatenate([idx - 6, idx + 6])][:, rows, cols].std(axis=(1, 2))
    assert eye_a.std(axis=(1, 2)).mean() < eye_near.mean()


# --------------------------------------------------------------------------- #
# bad input


@pytest.mark.parametrize(
    "expression, match",
    [
        (np.zeros((3, 2)), "1-D"),
        (np.array([0.0, np.nan, 1.0]), "index 1"),
        (np.array([0.0, 1.0, np.inf]), "index 2"),
        (np.array([]), "empty"),
        ("abc", "expression"),
    ],
)
def test_bad_expression_raises(expression, match):
    with pytest.raises(ValueError, match=match):
        render_faces(
            expression, identity=_identity(0), frames_per_step=2, rng=np.random.default_rng(0)
        )


@pytest.mark.parametrize("fps", [0, -3, 2.5, True, "4", None])
def test_bad_frames_per_step_raises(fps):
    with pytest.raises(ValueError, match="frames_per_step"):
        render_faces(
            np.zeros(4), identity=_identity(0), frames_per_step=fps, rng=np.random.default_rng(0)
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(blink_times_s=[[1.0]]), "blink_times_s"),
        (dict(blink_times_s=[1.0, np.nan]), "blink_times_s"),
        (dict(step_rate_hz=0.0), "step_rate_hz"),
        (dict(step_rate_hz=float("inf")), "step_rate_hz"),
        (dict(size=0), "size"),
        (dict(rng=42), "rng"),
        (dict(identity="me"), "identity"),
    ],
)
def test_bad_options_raise(kwargs, match):
    args = dict(identity=_identity(0), frames_per_step=2, rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(EmokdError, match=match):
        render_faces(np.zeros(4), **args)


def test_make_identity_needs_a_generator():
    with pytest.raises(ValueError, match="rng"):
        make_identity(0)
