"""Per-frame embeddings of a frozen face backbone, computed once per data set and cached.

A teacher whose backbone is frozen (``ModelConfig.backbone="frozen"``) sees a face
frame only through the backbone's embedding of it, and the backbone saw none of
the data set's subjects (:mod:`emokd.nn.backbone`). So the embeddings can be computed
once for every frame of every trial, before any fold, and no fold can leak
through them: a fold's teacher trains only its TCN and head on them.

Cache (beside the prepared data, ``PREPARED/embeddings/``)::

    emb_<key>.npz    one per backbone and view set: trial key -> float32 (n_steps, n_views, k, E)
    emb_<key>.json   what made it: the backbone file's SHA-256, the teacher's CNN
                     config, the views, and each prepared trial file's SHA-256

``key`` hashes that JSON, so a changed backbone, view set or trial gets a new
file, never a stale one. View 0 is the centre crop of every frame, view 1 its
mirror image (for ``frame_augment="frame+flip"``); random crops are not cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from ..core.config import ModelConfig
from ..errors import EmokdError
from ..core.memory import release_memory
from ..core.constants import FRAME_MEAN, FRAME_STD
from ..core.fileio import save_npz, sha256, write_json
from ..core.threads import fold_threads
from ..io.prepare import MANIFEST, load_prepared, read_manifest
from .backbone import backbone_path, read_card

log = logging.getLogger(__name__)

FOLDER = "embeddings"


def views_for(cfg: ModelConfig) -> tuple[str, ...]:
    """The views a teacher needs cached: ``("centre",)``, plus ``"flip"`` for ``frame+flip``."""
    return ("centre", "flip") if cfg.frame_augment == "frame+flip" else ("centre",)


def backbone_sha256(cfg: ModelConfig) -> str:
    """SHA-256 of the frozen backbone's weights file (emokd's own unless ``cfg.cnn_weights``)."""
    if cfg.cnn == "small":
        return read_card(cfg.cnn_weights)["sha256"]

    if cfg.cnn_weights is None:
        raise EmokdError("a frozen ir50 backbone needs cnn_weights (a state dict of the pretrained backbone)")
    return sha256(backbone_path(cfg.cnn_weights))


def embed_trial(teacher, frames: np.ndarray, *, views=("centre",), device="cpu", batch_frames: int = 2048) -> np.ndarray:
    """Embeddings of every frame of one trial.

    Parameters
    ----------
    teacher : emokd.nn.models.Teacher, frozen (eval mode)
    frames : ndarray, uint8, shape (n_steps, k, H, W)
    views : tuple of {"centre", "flip"}

    Returns
    -------
    emb : ndarray, float32, shape (n_steps, n_views, k, E)
    """
    import torch

    n, k, h, w = frames.shape
    s = teacher.frame_size
    if s > min(h, w):
        raise EmokdError(f"crop {s} is larger than the {h}x{w} frames")
    oy, ox = (h - s) // 2, (w - s) // 2
    centre = frames[:, :, oy:oy + s, ox:ox + s].reshape(n * k, s, s)  # (n*k, S, S) uint8
    out = []
    teacher.eval()
    with torch.no_grad():
        for view in views:
            crops = centre[:, :, ::-1] if view == "flip" else centre
            embs = []
            for lo in range(0, n * k, batch_frames):
                x = (np.ascontiguousarray(crops[lo:lo + batch_frames]).astype(np.float32) / 255.0 - FRAME_MEAN) / FRAME_STD
                xt = torch.from_numpy(x)[None].to(device)  # (1, F, S, S): F frames as one sequence
                embs.append(teacher.embed_frames(xt)[0].cpu().numpy())  # (F, E)
            out.append(np.concatenate(embs).reshape(n, k, -1))
    return np.stack(out, axis=1).astype(np.float32)  # (n, n_views, k, E)


def cached_embeddings(prepared_dir, cfg: ModelConfig, *, device="cpu", progress: bool = False,
                      n_jobs: int = 1) -> Path:
    """The cache file of ``cfg``'s frozen backbone on a prepared folder: made once, then reused.

    ``n_jobs``: trials embedded side by side by joblib's processes (the backend of any
    enclosing ``joblib.parallel_config``); each trial is computed with
    :data:`~emokd.core.threads.FOLD_THREADS` threads wherever it runs, so the file is the same
    with any ``n_jobs``. Written under a temporary name and renamed; the JSON card beside it is written
    last. If the prepared folder is not writable the cache goes to
    ``$EMOKD_CACHE/embeddings`` (or the system's temporary folder) instead.
    Returns the ``.npz`` path.
    """
    from .models import build_model, freeze

    if cfg.arch != "teacher" or not cfg.frozen_backbone:
        raise EmokdError(f"embeddings are cached for a teacher with backbone='frozen', not arch={cfg.arch!r} "
                         f"backbone={cfg.backbone!r}")
    prepared_dir = Path(prepared_dir)
    manifest = read_manifest(prepared_dir)
    if manifest is None:
        raise EmokdError(f"{prepared_dir}: no {MANIFEST}")
    views = views_for(cfg)
    cnn = {k: v for k, v in dataclasses.asdict(cfg).items() if k in ("cnn", "cnn_width", "cnn_features",
                                                                      "frame_size")}
    meta = {"format": "emokd-embeddings/1", "backbone_sha256": backbone_sha256(cfg), "cnn": cnn,
            "views": list(views),
            "trials": {key: sha256(prepared_dir / e["file"]) for key, e in manifest["trials"].items()}}
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]
    folder = _writable(prepared_dir / FOLDER)
    npz, card = folder / f"emb_{key}.npz", folder / f"emb_{key}.json"
    if npz.is_file() and card.is_file():
        try:
            if json.loads(card.read_text()) == meta and _holds(npz, manifest["trials"]):
                return npz
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            pass
        log.warning("%s: not this data's embeddings (truncated, foreign or stale): computed again", npz)

    from tqdm.auto import tqdm

    keys = list(manifest["trials"])
    if n_jobs == 1 or len(keys) < 2:
        teacher = freeze(build_model(cfg)).to(device)
        done = ({k: _embed(prepared_dir, manifest, k, teacher, views, device)} for k in keys)
    else:
        from joblib import Parallel, delayed

        from ..core.memory import call_and_release

        # one trial a task, in manifest order; each worker gives the backbone's activations back after it
        done = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(call_and_release)(_embed_in_worker, prepared_dir, manifest, k, cfg, views, device) for k in keys)
    arrays = {}
    for one in tqdm(done, total=len(keys), desc="embeddings", unit="trial", disable=not progress):
        arrays.update(one)
    save_npz(npz, arrays)
    write_json(card, meta)
    log.info("cached %d trials' embeddings in %s", len(arrays), npz)
    del arrays, done
    release_memory()  # the backbone's activations: 0.3 GB a notebook's kernel would keep (emokd.core.memory)
    return npz


def _embed(prepared_dir: Path, manifest: dict, key: str, teacher, views, device) -> np.ndarray:
    """One trial's embeddings (n_steps, n_views, k, E), computed with the folds' thread count."""
    (t,) = load_prepared(prepared_dir, keys=[key])
    if t["frames"] is None:
        raise EmokdError(f"{prepared_dir / manifest['trials'][key]['file']}: no face frames for the visual teacher")
    with fold_threads():  # the same embeddings on any machine and in any process (emokd.core.threads)
        return embed_trial(teacher, t["frames"], views=views, device=device)


def _embed_in_worker(prepared_dir: Path, manifest: dict, key: str, cfg: ModelConfig, views, device) -> dict:
    """``{key: embeddings}`` of one trial, in a worker process that builds the frozen backbone itself."""
    from .models import build_model, freeze

    return {key: _embed(prepared_dir, manifest, key, freeze(build_model(cfg)).to(device), views, device)}


def _holds(npz: Path, keys) -> bool:
    """Whether ``npz`` is a whole zip archive of one array per trial key (read from its directory only)."""
    import zipfile

    try:
        with zipfile.ZipFile(npz) as z:
            return sorted(z.namelist()) == sorted(f"{k}.npy" for k in keys)
    except (OSError, zipfile.BadZipFile):
        return False


def load_embeddings(path) -> dict[str, np.ndarray]:
    """trial key -> (n_steps, n_views, k, E) float32, from :func:`cached_embeddings`' file."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise EmokdError(f"{path}: cannot read the embedding cache ({err}); delete it to recompute") from None
    bad = {k: a.shape for k, a in arrays.items() if a.ndim != 4 or a.dtype != np.float32}
    if bad:
        raise EmokdError(f"{path}: arrays {_listed_shapes(bad)} are not float32 (n_steps, n_views, k, E) "
                         "embeddings; delete the file to recompute")
    return arrays


def _listed_shapes(shapes: dict) -> str:
    items = [f"{k} {v}" for k, v in shapes.items()]
    return ", ".join(items[:3]) + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")


def _writable(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return folder
    except OSError:
        import tempfile

        alt = Path(os.environ.get("EMOKD_CACHE") or tempfile.gettempdir()) / FOLDER / \
            hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
        alt.mkdir(parents=True, exist_ok=True)
        log.warning("%s is not writable: caching embeddings in %s", folder, alt)
        return alt
