"""Files written whole or not at all, their SHA-256, and the versions a file records.

Every writer here goes through :func:`atomic_path`: the content is written to a
temporary name in the target's folder (:func:`temp_path`, unique to its process
and thread, so two writers of the same file never share one) and renamed onto the
target with :func:`os.replace` only when complete. A write that fails leaves no
partial file, and the target, if it existed, as it was. The rename is atomic on
POSIX and on Windows within one file system, which the same folder guarantees.

* :func:`write_bytes`, :func:`write_text`, :func:`write_json`, :func:`save_npz`,
  :func:`torch_save` -- one call per kind of content;
* :func:`atomic_path`, :func:`atomic_open` -- for any other writer (a figure, XML);
* :func:`sha256` -- the hex digest of a file, read in chunks;
* :func:`versions` -- ``{"emokd": ..., "numpy": ..., "python": ...}`` for the
  packages named, as run folders and prepared data record them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path


#: the longest file name (bytes) most file systems take (POSIX NAME_MAX on Linux, macOS, ext4, APFS)
NAME_MAX = 255


def temp_path(path) -> Path:
    """``dir/name.<pid>-<thread>.tmp`` next to ``path``: unique per writer.

    A name that would exceed :data:`NAME_MAX` bytes keeps its first characters and a
    hash of the whole name instead (``dir/nam...<sha256[:16]>.<pid>-<thread>.tmp``), so
    any target a file system takes has a temporary name it takes too.
    (``np.savez`` appends ``.npz`` to a file *name*: :func:`save_npz` gives it an open file.)
    """
    path = Path(path)
    suffix = f".{os.getpid()}-{threading.get_ident()}.tmp"
    name = path.name
    if len((name + suffix).encode()) > NAME_MAX:
        digest = "." + hashlib.sha256(name.encode()).hexdigest()[:16]
        room = NAME_MAX - len((digest + suffix).encode())
        name = name.encode()[:room].decode(errors="ignore") + digest
    return path.with_name(name + suffix)


def _naming(err: OSError, path: Path, tmp: Path) -> OSError:
    """``err`` naming ``path`` (the file that could not be written) where it named ``tmp`` or no file;
    an error about another file (one the block read) is left as it is."""
    if err.errno is None or err.filename not in (None, str(tmp), tmp):
        return err
    return type(err)(err.errno, err.strerror or os.strerror(err.errno), str(path))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an error in the ``with`` block or in the final rename (``path`` is a folder, the
    disk is full) the temporary file is removed and ``path`` is left as it was; an
    OSError about the temporary file (or about no file) then names ``path``, the file
    that could not be written. An interrupt (KeyboardInterrupt, SystemExit) leaves the temporary
    file as a killed process would: ``path`` is still as it was, and the ``*.tmp``
    name says it is incomplete (:func:`emokd.io.prepare.prepare_dataset` removes such
    files when it starts).
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if (named := _naming(err, path, tmp)) is err:
            raise
        raise named from None
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if (named := _naming(err, path, tmp)) is err:
            raise
        raise named from None


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", **kwargs):
    """``open`` a temporary file beside ``path`` for writing; renamed onto ``path`` when the block ends."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open: mode {mode!r} does not write a new file; use 'w' or 'wb'")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, line ends as they are in ``text``; returns ``path``."""
    with atomic_open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def write_json(path, obj, *, indent: int = 1) -> Path:
    """Write ``obj`` as JSON (``indent`` spaces, a final newline) atomically; returns ``path``.

    ``obj`` is serialised before anything is opened, so an object JSON cannot
    hold raises without touching the file system.
    """
    return write_text(path, json.dumps(obj, indent=indent) + "\n")


def save_npz(path, arrays: dict, *, compressed: bool = False) -> Path:
    """``np.savez`` (or ``savez_compressed``) of ``arrays`` (name -> array) to ``path`` atomically."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_open(path, "wb") as f:  # a file object: numpy adds no ".npz" to it
        save(f, **arrays)
    return Path(path)


def torch_save(obj, path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically; returns ``path``."""
    import torch

    # to an open file, not a name: torch.save names the archive's folder after the file it is given,
    # which would be the temporary name, so two saves of the same object would differ in bytes
    with atomic_open(path, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def sha256(path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file (read ``chunk`` bytes at a time)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def versions(names) -> dict[str, str]:
    """The version of each name in ``names``, in that order: ``"python"`` is the interpreter's,
    any other name a module's ``__version__`` (``"emokd"``, ``"numpy"``, ``"torch"``, ...)."""
    import importlib
    import platform

    return {name: platform.python_version() if name == "python" else importlib.import_module(name).__version__
            for name in names}
