"""Checkpoints: exact round trips, atomic writes, and errors that say what happened."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from rnnkit.io import checkpoint as ckpt
from rnnkit.io.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint


def sample_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "model.W": rng.standard_normal((4, 3)).astype(np.float32),
        "model.b": rng.standard_normal(5),  # float64
        "data.ids": rng.integers(0, 1000, size=(2, 7), dtype=np.int64),
        "scalar": np.array(3.5),
        "strided": rng.standard_normal((6, 6))[::2, 1::2],  # non-contiguous view
    }


def test_round_trip_keeps_values_dtypes_and_shapes(tmp_path: Path) -> None:
    arrays = sample_arrays()
    meta = {"epoch": 3, "lr": 0.25, "tags": ["a", "b"], "nested": {"x": None, "ok": True}}
    out = save_checkpoint(tmp_path / "c.safetensors", arrays, meta)
    assert out == tmp_path / "c.safetensors"
    loaded, meta2 = load_checkpoint(out)
    assert meta2 == meta
    assert sorted(loaded) == sorted(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].flags.writeable
    # a plain safetensors reader sees the arrays and our metadata
    raw = safetensors.numpy.load_file(out)
    np.testing.assert_array_equal(raw["model.W"], arrays["model.W"])


def test_big_ints_from_generator_state_round_trip_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(12345)
    rng.random(7)
    state = rng.bit_generator.state
    assert state["state"]["state"] > 2**64  # 128-bit PCG64 ints, beyond float and int64
    save_checkpoint(tmp_path / "c.safetensors", {}, {"rng": state, "huge": -(2**200) + 1})
    _, meta = load_checkpoint(tmp_path / "c.safetensors")
    assert meta["rng"] == state and meta["huge"] == -(2**200) + 1
    restored = np.random.default_rng()
    restored.bit_generator.state = meta["rng"]
    np.testing.assert_array_equal(restored.random(5), rng.random(5))


def test_meta_that_json_would_mangle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"meta\['epoch'\] is a int64.*int\(\)/float\(\)"):
        save_checkpoint(tmp_path / "c.safetensors", {}, {"epoch": np.int64(3)})
    with pytest.raises(TypeError, match="has key 1 of type int"):
        save_checkpoint(tmp_path / "c.safetensors", {}, {"a": {1: "x"}})
    assert list(tmp_path.iterdir()) == []


def test_optimizer_state_through_a_checkpoint(tmp_path: Path) -> None:
    from rnnkit.nn.base import Layer
    from rnnkit.optim import Adam

    model = Layer()
    model.add_param("W", np.random.default_rng(1).standard_normal((3, 3)))
    opt = Adam(model, lr=0.01)
    model.grads["W"][...] = 1.0
    opt.step()
    arrays, meta = opt.state_dict()
    save_checkpoint(tmp_path / "c.safetensors", arrays, {"optim": meta})
    arrays2, meta2 = load_checkpoint(tmp_path / "c.safetensors")
    opt2 = Adam(model)
    opt2.load_state_dict(arrays2, meta2["optim"])
    a2, m2 = opt2.state_dict()
    assert m2 == meta
    for k in arrays:
        np.testing.assert_array_equal(a2[k], arrays[k])


def test_missing_directory_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist; check the path"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"is empty \(0 bytes\).*earlier checkpoint"):
        load_checkpoint(tmp_path / "empty.safetensors")


def test_truncation_anywhere_is_reported(tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.safetensors", sample_arrays(), {"epoch": 1})
    buf = good.read_bytes()
    (header_len,) = struct.unpack("<Q", buf[:8])
    cuts = [1, 7, 8, 9, 8 + header_len // 2, 8 + header_len, 8 + header_len + 1, len(buf) - 1]
    for cut in cuts:
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(buf[:cut])
        with pytest.raises(CheckpointError, match=r"is truncated: .*earlier checkpoint") as err:
            load_checkpoint(bad)
        assert str(bad) in str(err.value)


def test_corruption_is_reported(tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.safetensors", sample_arrays(), {"epoch": 1})
    buf = bytearray(good.read_bytes())
    (header_len,) = struct.unpack("<Q", buf[:8])
    flipped = buf.copy()
    flipped[-3] ^= 0xFF  # a bit-rotted tensor byte
    (tmp_path / "flip.safetensors").write_bytes(flipped)
    with pytest.raises(CheckpointError, match="corrupted: its tensor data does not match"):
        load_checkpoint(tmp_path / "flip.safetensors")
    garbled = buf.copy()
    garbled[8] = ord("#")  # header no longer JSON
    (tmp_path / "hdr.safetensors").write_bytes(garbled)
    with pytest.raises(CheckpointError, match="corrupted: its header is not valid JSON"):
        load_checkpoint(tmp_path / "hdr.safetensors")
    (tmp_path / "tail.safetensors").write_bytes(bytes(buf) + b"\0\0")
    with pytest.raises(CheckpointError, match="corrupted: it has 2 unexpected bytes"):
        load_checkpoint(tmp_path / "tail.safetensors")


def test_foreign_files_are_named_as_such(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(2)}, plain, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"not an rnnkit checkpoint \(metadata format 'pt'"):
        load_checkpoint(plain)
    zipped = tmp_path / "model.pt"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(CheckpointError, match="zip archive .* never unpickles"):
        load_checkpoint(zipped)


def test_newer_format_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ckpt, "FORMAT_VERSION", ckpt.FORMAT_VERSION + 1)
    path = save_checkpoint(tmp_path / "new.safetensors", {"w": np.zeros(2)}, {})
    monkeypatch.undo()
    newer = ckpt.FORMAT_VERSION + 1
    with pytest.raises(CheckpointError, match=rf"format_version {newer}, .*upgrade rnnkit"):
        load_checkpoint(path)
    header = json.loads(path.read_bytes()[8 : 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]])
    assert header["__metadata__"]["format"] == FORMAT


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_crash_during_write_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    path = save_checkpoint(tmp_path / "c.safetensors", {"w": np.ones(3)}, {"epoch": 1})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, fail_at, crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]
    arrays, meta = load_checkpoint(path)
    assert meta == {"epoch": 1}
    np.testing.assert_array_equal(arrays["w"], np.ones(3))


def test_successful_overwrite_replaces_and_cleans_up(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.safetensors", {"w": np.ones(3)}, {"epoch": 1})
    save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]
    assert load_checkpoint(path)[1] == {"epoch": 2}
