"""Find a face in a video frame and align it to the paper's crop: OpenFace's ``-simalign -simsize 48``.

OpenFace 2.2 (which the paper ran) aligns a face by the least-squares similarity transform
(rotation, uniform scale, translation) that takes its tracked landmarks onto ``sim_scale`` times
the mean shape of its point distribution model, centred in the crop
(``FaceAnalysis::AlignFace``, ``Face_utils.cpp``). With ``-simsize 48`` and no ``-simscale``,
``sim_scale = 48 * 0.7 / 112 = 0.3`` (``FaceAnalyserParameters.cpp``). emokd does the same with
five points, the eye centres, the nose tip and the mouth corners, by Umeyama's closed form
(:func:`umeyama`), onto :data:`TEMPLATE_48`.

Where :data:`TEMPLATE_48` comes from. OpenFace's mean shape is the first 204 numbers of
``In-the-wild_aligned_PDM_68.txt`` (x of the 68 iBUG points, then y, then z, in mm, centred:
each coordinate sums to zero). Those numbers are reproduced verbatim in public head-pose code
that cites that file (e.g. the "68-point 3D model" of head-pose estimators that start
``-73.393523, -72.775014, ...``); emokd copies the five points it needs from them
(:data:`PDM_MEAN_5_MM`): each eye centre is the mean of its six points (36-41 for the subject's
right eye, 42-47 for the left), the nose tip is point 30, the mouth corners are points 48 and 54.
Then ``TEMPLATE_48 = 0.3 * PDM_MEAN_5_MM + 24``: the model's origin lands at the crop's
centre, as OpenFace centres its warp on the model's translation. The eyes sit 19.7 px apart at
row 12.4, the mouth at row 32.5. What is not reproduced: OpenFace fits its own 68 landmarks
(CE-CLM) and aligns on 24 rigid ones, and by default it blacks out the pixels outside the face's
convex hull (``-nomask`` turns that off); emokd aligns on five mediapipe landmarks and does not
mask.

The detector: mediapipe 0.10.14 (see :mod:`emokd.io.extras`), whose wheel ships its models, so
nothing is fetched: FaceMesh (``face_landmark.tflite``, 468 landmarks) in tracking mode gives the
five points, and the short-range face detector (``face_detection_short_range.tflite``) the
per-frame confidence and a box that the landmarks must fall in (two networks that agree, or the
frame counts as lost; see :class:`MediaPipeFaces`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import EmokdError
from .extras import MEDIAPIPE_VERSION, require_video

#: side of the aligned crops (px): OpenFace ``-simsize 48``
SIM_SIZE = 48
#: OpenFace's scale of its mean shape for ``-simsize 48`` without ``-simscale``: 48 * 0.7 / 112
SIM_SCALE = SIM_SIZE * 0.7 / 112
#: names of the five alignment points, in the order of every (5, 2) array here
POINTS = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")
#: the five points of OpenFace's mean shape (``In-the-wild_aligned_PDM_68.txt``), x, y in mm (z is not used): the
#: eye centres are the means of iBUG points 36-41 and 42-47, the nose tip point 30, the mouth corners 48 and 54
PDM_MEAN_5_MM = np.array([
    [-32.934914, -38.286953],  # subject's right eye (image left): mean of points 36-41
    [32.788306, -38.764734],  # subject's left eye: mean of points 42-47
    [1.226783, -8.414541],  # nose tip: point 30
    [-28.916267, 28.612716],  # right mouth corner: point 48
    [28.794412, 28.079924],  # left mouth corner: point 54
])
#: where the five points land in a 48 x 48 crop (x, y in px): ``SIM_SCALE * mean shape + 24``
TEMPLATE_48 = SIM_SCALE * PDM_MEAN_5_MM + SIM_SIZE / 2

#: mediapipe FaceMesh landmarks of each point: six around each eye (corners, two upper and two lower
#: lid points, as iBUG's 36-41 and 42-47), the nose tip, the mouth corners
MESH_POINTS = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380), (1,), (61,), (291,))
#: the detector, as face_frames.npz records it
DETECTOR = (f"mediapipe {MEDIAPIPE_VERSION}: FaceMesh (face_landmark.tflite, tracking) for the five points, "
            "FaceDetection (face_detection_short_range.tflite) for the confidence")


@dataclass(frozen=True)
class Similarity:
    """A 2-D similarity transform ``y = scale * R x + t`` and how well it fits.

    Attributes
    ----------
    matrix : ndarray, shape (2, 3)
        ``[scale * R | t]``, for :func:`warp_face` (OpenCV's affine convention).
    scale : float
    angle_deg : float
        Rotation, degrees (counter-clockwise in image coordinates, y down).
    rms_px : float
        Root mean square distance between the mapped source points and the targets (target px).
    """

    matrix: np.ndarray
    scale: float
    angle_deg: float
    rms_px: float

    def apply(self, points) -> np.ndarray:
        """Map points (n, 2) -> (n, 2)."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]


def umeyama(src, dst) -> Similarity:
    """The least-squares similarity transform from ``src`` to ``dst`` (Umeyama 1991, no reflection).

    Parameters
    ----------
    src, dst : ndarray, shape (n_points, 2)

    Returns
    -------
    Similarity
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise EmokdError(f"umeyama: src {src.shape} and dst {dst.shape} must both be (n >= 2, 2)")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs ** 2).sum() / len(src)
    if var_s <= 0:
        raise EmokdError("umeyama: the source points coincide")
    u, sv, vt = np.linalg.svd(xd.T @ xs / len(src))  # covariance (2, 2)
    d = np.array([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ np.diag(d) @ vt
    scale = float((sv * d).sum() / var_s)
    t = mu_d - scale * rot @ mu_s
    matrix = np.hstack([scale * rot, t[:, None]])
    rms = float(np.sqrt((((src @ matrix[:, :2].T + t) - dst) ** 2).sum(1).mean()))
    return Similarity(matrix=matrix, scale=scale, angle_deg=float(np.degrees(np.arctan2(rot[1, 0], rot[0, 0]))),
                      rms_px=rms)


def align_transform(points) -> Similarity:
    """The similarity taking five face points (5, 2), in :data:`POINTS` order, onto :data:`TEMPLATE_48`."""
    return umeyama(points, TEMPLATE_48)


def warp_face(rgb: np.ndarray, transform: Similarity, size: int = SIM_SIZE) -> np.ndarray:
    """The aligned crop: ``rgb`` warped by ``transform`` (bilinear, black outside the frame, as OpenFace).

    Parameters
    ----------
    rgb : ndarray of uint8, shape (height, width, 3)

    Returns
    -------
    crop : ndarray of uint8, shape (size, size, 3)
    """
    cv2 = require_video("cv2")
    return cv2.warpAffine(rgb, transform.matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@dataclass(frozen=True)
class FaceFound:
    """One face in one frame.

    Attributes
    ----------
    points : ndarray, shape (5, 2)
        The five points (:data:`POINTS`) in frame pixels (x, y).
    confidence : float
        The face detector's score, 0-1.
    """

    points: np.ndarray
    confidence: float


def _flush_c_streams() -> None:
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to flush (not POSIX)
        pass


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send file descriptor 2 to /dev/null for the block: mediapipe's C++ (TFLite, absl) prints lines
    that no setting turns off when its graphs start and run their first frames ("Created TensorFlow Lite XNNPACK delegate",
    "Feedback manager requires a model with a single signature"); the protobuf release it needs
    warns that a method it calls is deprecated."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
            os.dup2(null.fileno(), 2)
            yield
    finally:
        _flush_c_streams()  # what the C++ side buffered goes to /dev/null, not out at exit
        os.dup2(saved, 2)
        os.close(saved)


class MediaPipeFaces:
    """mediapipe's FaceMesh (tracking) and short-range face detector on the frames of one video.

    Call it on consecutive RGB frames (uint8, (height, width, 3)); it returns a :class:`FaceFound`
    or None. None when either network finds no face, the detector's score is below
    ``min_confidence``, or the five points fall outside the detector's box (widened by
    ``box_margin`` of its size on each side): a frame where the two disagree is lost rather than
    cropped wrong. Use one instance per video (``with``): FaceMesh tracks from frame to frame.
    While it is open, file descriptor 2 (stderr) goes to /dev/null: mediapipe's native threads print
    lines that no setting turns off, at any moment of the graphs' life.
    """

    def __init__(self, *, min_confidence: float = 0.5, box_margin: float = 0.25):
        mp = require_video("mediapipe")
        if mp.__version__ != MEDIAPIPE_VERSION:
            raise EmokdError(f"mediapipe {mp.__version__} is installed; emokd needs {MEDIAPIPE_VERSION}, the "
                             f"release that ships its face models: pip install --no-deps mediapipe=={MEDIAPIPE_VERSION}")
        self.min_confidence, self.box_margin = float(min_confidence), float(box_margin)
        # the graphs' threads print as they start, run and stop, asynchronously: quiet for the detector's life
        self._quiet = contextlib.ExitStack()
        self._quiet.enter_context(_quiet_native_stderr())
        try:
            self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                         refine_landmarks=False, min_detection_confidence=min_confidence,
                                                         min_tracking_confidence=min_confidence)
            self._detect = mp.solutions.face_detection.FaceDetection(model_selection=0,
                                                                     min_detection_confidence=min_confidence)
        except BaseException:
            self._quiet.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Stop both graphs and give file descriptor 2 back."""
        try:
            self._mesh.close()
            self._detect.close()
        finally:
            self._quiet.close()

    def __call__(self, rgb: np.ndarray) -> FaceFound | None:
        h, w = rgb.shape[:2]
        rgb = np.ascontiguousarray(rgb)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
            det = self._detect.process(rgb).detections
            mesh = self._mesh.process(rgb).multi_face_landmarks
        if not det:
            return None
        best = max(det, key=lambda d: d.score[0])
        score = float(best.score[0])
        if not mesh or score < self.min_confidence:
            return None
        lm = mesh[0].landmark
        points = np.array([[np.mean([lm[i].x for i in ids]) * w, np.mean([lm[i].y for i in ids]) * h]
                           for ids in MESH_POINTS])  # (5, 2) px
        box = best.location_data.relative_bounding_box
        x0, y0, bw, bh = box.xmin * w, box.ymin * h, box.width * w, box.height * h
        mx, my = self.box_margin * bw, self.box_margin * bh
        inside = ((points[:, 0] >= x0 - mx) & (points[:, 0] <= x0 + bw + mx)
                  & (points[:, 1] >= y0 - my) & (points[:, 1] <= y0 + bh + my))
        if not inside.all():
            return None
        return FaceFound(points=points, confidence=score)
