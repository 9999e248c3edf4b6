"""Alignment to OpenFace's 48 px crop: Umeyama's similarity against known transforms, the template's
geometry, and mediapipe on the bundled photograph."""

from __future__ import annotations

import numpy as np
import pytest

from emokd.errors import EmokdError
from emokd.io import extras
from emokd.io.faces_align import (PDM_MEAN_5_MM, SIM_SCALE, TEMPLATE_48, align_transform, umeyama)


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 500, (5, 2))
    angle, scale, shift = np.radians(12.0), 0.31, np.array([7.0, -3.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    fit = umeyama(src, dst)
    assert fit.scale == pytest.approx(scale) and fit.angle_deg == pytest.approx(12.0) and fit.rms_px < 1e-9
    np.testing.assert_allclose(fit.apply(src), dst, atol=1e-9)
    # noisy points: the least-squares answer, checked against a general solver over (a, b, tx, ty)
    noisy = dst + rng.normal(0, 2.0, dst.shape)
    fit = umeyama(src, noisy)
    design = np.zeros((10, 4))
    design[0::2] = np.c_[src[:, 0], -src[:, 1], np.ones(5), np.zeros(5)]
    design[1::2] = np.c_[src[:, 1], src[:, 0], np.zeros(5), np.ones(5)]
    a, b, tx, ty = np.linalg.lstsq(design, noisy.ravel(), rcond=None)[0]
    np.testing.assert_allclose(fit.matrix, [[a, -b, tx], [b, a, ty]], atol=1e-9)


def test_umeyama_refuses_points_it_cannot_fit():
    with pytest.raises(EmokdError, match="coincide"):
        umeyama(np.ones((5, 2)), np.zeros((5, 2)))
    with pytest.raises(EmokdError, match=r"must both be \(n >= 2, 2\)"):
        umeyama(np.ones((5, 2)), np.zeros((4, 2)))


def test_template_is_openfaces_simsize_48_geometry():
    assert SIM_SCALE == pytest.approx(0.3)  # 48 * 0.7 / 112: -simsize 48 without -simscale
    np.testing.assert_allclose(TEMPLATE_48, 0.3 * PDM_MEAN_5_MM + 24)
    left, right = TEMPLATE_48[0], TEMPLATE_48[1]
    assert left[0] < 24 < right[0] and abs(left[1] - right[1]) < 0.5  # level eyes either side of the centre
    assert 19 < right[0] - left[0] < 21  # eyes about 19.7 px apart
    assert TEMPLATE_48[2, 1] > left[1] and TEMPLATE_48[3:, 1].min() > TEMPLATE_48[2, 1]  # nose below, mouth lower
    assert np.all((TEMPLATE_48 > 8) & (TEMPLATE_48 < 40))  # the 40 px centre crop keeps every point
    # the template maps onto itself
    assert align_transform(TEMPLATE_48).rms_px < 1e-9


@pytest.mark.skipif(not extras.video_available(), reason="the 'video' extra is not installed: " + extras.INSTALL_HINT)
def test_mediapipe_finds_the_photographs_face():
    pytest.importorskip("skimage", reason="scikit-image (the bundled photograph) is not installed")
    from emokd.io.faces_align import MediaPipeFaces, warp_face
    from emokd.synth.videoclip import photo

    image = photo()
    with MediaPipeFaces() as find:
        face = find(image)
        assert find(np.zeros_like(image)) is None  # no face: lost, not cropped
    assert face.confidence > 0.8
    eyes = face.points[:2]
    assert eyes[0, 0] < eyes[1, 0] and 150 < eyes[:, 0].mean() < 300 and 60 < eyes[:, 1].mean() < 150
    fit = align_transform(face.points)
    assert fit.rms_px < 4.0  # a broad smile: the mouth corners lie wider than the mean shape's
    crop = warp_face(image, fit)
    assert crop.shape == (48, 48, 3) and crop.dtype == np.uint8
