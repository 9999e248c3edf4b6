"""emokd.core.fileio: atomic writes keep the old file on failure; sha256 agrees with hashlib."""

import hashlib
import json

import numpy as np
import pytest
import torch

from emokd.core import fileio


def _leftovers(folder, name):
    return sorted(p.name for p in folder.iterdir() if p.name != name)


@pytest.mark.parametrize("writer", ["bytes", "text", "json", "npz", "torch"])
def test_writes_round_trip(tmp_path, writer):
    path = tmp_path / f"out.{writer}"
    if writer == "bytes":
        fileio.write_bytes(path, b"\x00\x01abc")
        assert path.read_bytes() == b"\x00\x01abc"
    elif writer == "text":
        fileio.write_text(path, "a\r\nb\n\u00b1")  # line ends and non-ASCII as given
        assert path.read_bytes() == "a\r\nb\n\u00b1".encode()
    elif writer == "json":
        fileio.write_json(path, {"a": [1, 2.5], "b": None})
        assert path.read_text() == json.dumps({"a": [1, 2.5], "b": None}, indent=1) + "\n"
    elif writer == "npz":
        fileio.save_npz(path, {"x": np.arange(3), "y": np.eye(2)})
        with np.load(path) as f:
            assert f.files == ["x", "y"] and (f["x"] == np.arange(3)).all()
    else:
        fileio.torch_save({"w": torch.ones(2)}, path)
        assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert _leftovers(tmp_path, path.name) == []


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="disk died"):
        with fileio.atomic_open(path, "wb") as f:
            f.write(b"half of the new")
            raise RuntimeError("disk died")
    assert path.read_bytes() == b"old contents"
    assert _leftovers(tmp_path, "data.bin") == []


def test_failed_torch_save_and_json_keep_old_file(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    with pytest.raises(Exception):
        fileio.torch_save({"f": lambda: 0}, path)  # a lambda does not pickle: fails midway
    assert path.read_bytes() == b"old" and _leftovers(tmp_path, "model.pt") == []
    js = tmp_path / "a.json"
    js.write_text("{}")
    with pytest.raises(TypeError):
        fileio.write_json(js, {"x": object()})
    assert js.read_text() == "{}"


def test_an_interrupted_write_keeps_the_old_file_and_its_temporary_says_incomplete(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{}")
    with pytest.raises(KeyboardInterrupt):
        with fileio.atomic_path(path) as tmp:
            tmp.write_text('{"half')
            raise KeyboardInterrupt
    assert path.read_text() == "{}"
    assert [p.suffix for p in tmp_path.iterdir() if p != path] == [".tmp"]


def test_a_new_file_that_fails_is_not_created(tmp_path):
    with pytest.raises(ValueError):
        with fileio.atomic_path(tmp_path / "new.txt") as tmp:
            tmp.write_text("partial")
            raise ValueError("stop")
    assert list(tmp_path.iterdir()) == []


def test_atomic_open_refuses_modes_that_do_not_write(tmp_path):
    with pytest.raises(ValueError, match="'a'"):
        with fileio.atomic_open(tmp_path / "x", "a"):
            pass


def test_temp_path_is_beside_the_target(tmp_path):
    tmp = fileio.temp_path(tmp_path / "x.npz")
    assert tmp.parent == tmp_path and tmp.name.startswith("x.npz.") and tmp.suffix == ".tmp"


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 5000], ids=["empty", "abc", "1.3MB"])
def test_sha256_matches_hashlib(tmp_path, data):
    path = tmp_path / "f"
    path.write_bytes(data)
    assert fileio.sha256(path, chunk=4096) == hashlib.sha256(data).hexdigest()
    if data == b"abc":  # the FIPS 180-2 test vector
        assert fileio.sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_versions_in_the_order_asked():
    import platform

    v = fileio.versions(["numpy", "python", "torch"])
    assert list(v) == ["numpy", "python", "torch"]
    assert v == {"numpy": np.__version__, "python": platform.python_version(), "torch": torch.__version__}


def test_disk_full_names_the_file_and_leaves_nothing(tmp_path):
    import errno
    import os

    path = tmp_path / "results.json"
    path.write_text("{}")
    with pytest.raises(OSError) as info:
        with fileio.atomic_open(path, "w") as f:
            f.write('{"half')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a write on a full disk raises
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_text() == "{}" and _leftovers(tmp_path, path.name) == []


def test_a_failed_rename_leaves_no_temporary_and_names_the_target(tmp_path):
    folder = tmp_path / "model.pt"  # a folder where the file should go: os.replace fails
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        fileio.write_bytes(folder, b"weights")
    assert info.value.filename == str(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"] and list(folder.iterdir()) == []


def test_the_temporary_name_of_a_long_name_stays_within_name_max(tmp_path):
    path = tmp_path / ("w" * 248 + ".pt")  # 251 characters: a file system takes it
    fileio.write_bytes(path, b"weights")
    assert path.read_bytes() == b"weights" and _leftovers(tmp_path, path.name) == []
    tmp = fileio.temp_path(path)
    assert tmp.parent == tmp_path and tmp.suffix == ".tmp" and len(tmp.name.encode()) <= fileio.NAME_MAX
    assert tmp != fileio.temp_path(tmp_path / ("w" * 248 + ".pu"))  # the hash keeps two long names apart
    assert fileio.temp_path(tmp_path / "x.pt").name.startswith("x.pt.")  # short names as they were


def test_torch_save_on_a_full_disk_names_the_model_file_and_leaves_nothing(tmp_path, monkeypatch):
    """A full disk while torch.save writes (through the open temporary file: torch passes the
    OSError on, without a file name) names the model file; no temporary file is left."""
    import errno
    import os

    import torch

    def full(obj, f):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full)
    path = tmp_path / "student.pt"
    with pytest.raises(OSError) as info:
        fileio.torch_save({"w": 1}, path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert list(tmp_path.iterdir()) == []


def test_torch_save_gives_the_same_bytes_for_the_same_object(tmp_path):
    """The archive inside a .pt is named independently of the (temporary) file it was written to."""
    import torch

    obj = {"state_dict": {"w": torch.arange(6.0)}, "config": "{}"}
    a, b = fileio.torch_save(obj, tmp_path / "a.pt"), fileio.torch_save(obj, tmp_path / "b.pt")
    assert a.read_bytes() == b.read_bytes()
    assert torch.equal(torch.load(a, weights_only=True)["state_dict"]["w"], torch.arange(6.0))
