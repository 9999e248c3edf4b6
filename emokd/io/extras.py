"""The optional packages of the video step (``pip install emokd[video]``), imported on demand.

The video step reads the camera with PyAV and finds faces with mediapipe 0.10.14, the newest
mediapipe wheel that ships its face models (``face_detection_short_range.tflite``,
``face_landmark.tflite``) and accepts numpy 2. A plain ``pip install mediapipe==0.10.14`` also
pulls jax, jaxlib and opencv-contrib-python (about 700 MB) that the face solutions never import;
so the ``video`` extra lists what mediapipe's face solutions do import (protobuf < 5, OpenCV,
attrs, matplotlib, numpy) and mediapipe itself is installed without its declared dependencies::

    pip install "emokd[video]"
    pip install --no-deps mediapipe==0.10.14

A missing package is reported in one line naming both commands (:func:`require_video`).
"""

from __future__ import annotations

import importlib

from ..errors import EmokdError

#: the mediapipe release whose wheel bundles the face models and accepts numpy 2
MEDIAPIPE_VERSION = "0.10.14"
#: how to install the video step's packages
INSTALL_HINT = f'pip install "emokd[video]" && pip install --no-deps mediapipe=={MEDIAPIPE_VERSION}'
#: the modules the video step imports, and the distribution that provides each
MODULES = {"av": "av", "cv2": "opencv-python-headless", "mediapipe": f"mediapipe=={MEDIAPIPE_VERSION}"}


def require_video(module: str):
    """Import ``module`` (one of :data:`MODULES`), or raise EmokdError in one line naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise EmokdError(f"face frames from video need {MODULES.get(module, module)} ({err.msg}); install the "
                         f"'video' extra: {INSTALL_HINT}") from None


def video_available() -> bool:
    """Whether every package of the video step imports (and mediapipe is the release that ships its models)."""
    try:
        for module in MODULES:
            importlib.import_module(module)
    except ImportError:
        return False
    import mediapipe

    return getattr(mediapipe, "__version__", "") == MEDIAPIPE_VERSION
