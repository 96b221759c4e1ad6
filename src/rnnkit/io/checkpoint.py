"""Checkpoints: one safetensors file holding named arrays plus JSON metadata. Nothing is pickled.

File layout (plain safetensors, readable by any safetensors reader)::

    tensors       the arrays, by name (e.g. "model.W_x", "optim.model.W_x.exp_avg")
    __metadata__  {"format": "rnnkit-checkpoint",
                   "format_version": "1",
                   "data_sha256": sha256 of the tensor data section (detects corruption),
                   "meta": json.dumps(meta)}

``meta`` is any JSON-able value tree (dict/list/tuple/str/int/float/bool/None, string keys).
Python ints of any size round-trip exactly, e.g. the 128-bit ints of
``np.random.default_rng().bit_generator.state``; tuples come back as lists.

Writes are atomic: the bytes go to a temporary file in the target's directory, which is flushed and
``fsync``-ed, then ``os.replace``-d over the target, and the directory is ``fsync``-ed. A crash
leaves either the old checkpoint or the new one, never a torn file, and no temporary file survives
an exception.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "FORMAT", "FORMAT_VERSION"]

FORMAT = "rnnkit-checkpoint"
FORMAT_VERSION = 1

# dtypes safetensors.numpy can write and read back
_SUPPORTED_DTYPES = {
    np.dtype(t)
    for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
        np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64,
    )
}


class CheckpointError(ValueError):
    """A checkpoint cannot be read: missing, empty, truncated, corrupted, foreign or too new."""


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` and ``meta`` atomically to ``path`` (conventionally ``*.safetensors``).

    Args:
        path: target file; its directory must exist. An existing file is replaced atomically.
        arrays: name -> array (any shape; float, int, bool dtypes). Non-contiguous arrays are
            copied to C order first.
        meta: JSON-able dict (see the module docstring).

    Returns the path written. Raises ``TypeError`` for non-JSON-able meta or unsupported dtypes.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"save_checkpoint: directory '{path.parent}' does not exist; create it first"
        )
    if path.is_dir():
        raise IsADirectoryError(f"save_checkpoint: '{path}' is a directory; pass a file name")
    data = _serialize(arrays, meta)

    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns ``(arrays, meta)``; the arrays are writable copies with the saved dtypes and shapes.
    Raises :class:`CheckpointError` saying what is wrong and what to do.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint '{path}' does not exist; check the path")
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint '{path}' is a directory; pass the .safetensors file inside it"
        )
    buf = path.read_bytes()
    if not buf:
        raise CheckpointError(
            f"checkpoint '{path}' is empty (0 bytes): the write that made it did not finish. "
            "Resume from an earlier checkpoint."
        )
    header, data = _split(path, buf)
    info = header.get("__metadata__")
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        found = info.get("format") if isinstance(info, dict) else None
        raise CheckpointError(
            f"'{path}' is a safetensors file but not an rnnkit checkpoint (metadata format "
            f"{found!r}, expected {FORMAT!r}). To read its raw arrays use "
            "safetensors.numpy.load_file."
        )
    version = info.get("format_version", "")
    if not str(version).isdigit():
        raise _corrupted(path, f"its format_version {version!r} is not an integer")
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format_version {version}, but this rnnkit reads versions "
            f"up to {FORMAT_VERSION}; upgrade rnnkit to load it"
        )
    if hashlib.sha256(data).hexdigest() != info.get("data_sha256"):
        raise _corrupted(path, "its tensor data does not match the checksum stored in its header")
    try:
        meta = json.loads(info["meta"])
        arrays = safetensors.numpy.load(buf)
    except (KeyError, json.JSONDecodeError, safetensors.SafetensorError) as err:
        raise _corrupted(path, f"it cannot be decoded ({err})") from err
    return {name: np.array(value) for name, value in arrays.items()}, meta


# ------------------------------------------------------------------------------------ internals


def _serialize(arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    if not isinstance(meta, dict):
        raise TypeError(f"save_checkpoint: meta must be a dict, got {type(meta).__name__}")
    _check_jsonable(meta, "meta")
    tensors = {}
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"save_checkpoint: array names must be str, got {name!r}")
        value = np.ascontiguousarray(value)  # safetensors copies raw memory: must be C-contiguous
        if value.dtype.newbyteorder("=") not in _SUPPORTED_DTYPES:
            raise TypeError(
                f"save_checkpoint: array '{name}' has dtype {value.dtype}; supported are "
                "float16/32/64, (u)int8-64, bool and complex64"
            )
        tensors[name] = value
    info = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "meta": json.dumps(meta)}
    # The data section does not depend on the metadata (offsets are relative to its start), so
    # serialise once to hash it, then again with the hash in the header.
    draft = safetensors.numpy.save(tensors, metadata=info)
    (header_len,) = struct.unpack("<Q", draft[:8])
    info["data_sha256"] = hashlib.sha256(draft[8 + header_len :]).hexdigest()
    return safetensors.numpy.save(tensors, metadata=info)


def _check_jsonable(value: Any, where: str) -> None:
    """Reject what ``json`` would refuse or silently change (non-str keys, numpy ints, ...)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"save_checkpoint: {where} has key {key!r} of type {type(key).__name__}; "
                    "JSON keys must be str (convert it with str())"
                )
            _check_jsonable(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_jsonable(item, f"{where}[{i}]")
        return
    hint = " (convert numpy scalars with int()/float(), or store arrays in `arrays`)"
    raise TypeError(
        f"save_checkpoint: {where} is a {type(value).__name__}, which JSON cannot hold{hint}"
    )


def _split(path: Path, buf: bytes) -> tuple[dict, bytes]:
    """Check the safetensors framing; return the parsed header and the tensor data section."""
    if buf[:4] == b"PK\x03\x04":
        raise CheckpointError(
            f"'{path}' is a zip archive (e.g. a torch.save file), not an rnnkit checkpoint; "
            "rnnkit never unpickles files"
        )
    if len(buf) < 8:
        raise _truncated(path, f"it has only {len(buf)} bytes, fewer than the 8-byte header size")
    (header_len,) = struct.unpack("<Q", buf[:8])
    if 8 + header_len > len(buf):
        raise _truncated(
            path, f"its header announces {header_len} bytes but only {len(buf) - 8} follow"
        )
    try:
        header = json.loads(buf[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _corrupted(path, f"its header is not valid JSON ({err})") from err
    if not isinstance(header, dict):
        raise _corrupted(path, "its header is not a JSON object")
    data = buf[8 + header_len :]
    try:
        end = max(
            (int(spec["data_offsets"][1]) for k, spec in header.items() if k != "__metadata__"),
            default=0,
        )
    except (TypeError, KeyError, IndexError, ValueError) as err:
        raise _corrupted(path, f"its header lists malformed tensor entries ({err!r})") from err
    if end > len(data):
        raise _truncated(
            path, f"its tensors need {end} bytes of data but only {len(data)} are there"
        )
    if end < len(data):
        raise _corrupted(path, f"it has {len(data) - end} unexpected bytes after the tensor data")
    return header, data


def _truncated(path: Path, detail: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint '{path}' is truncated: {detail}. The file was cut short (disk full, or "
        "copied before the write finished). Resume from an earlier checkpoint."
    )


def _corrupted(path: Path, detail: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint '{path}' is corrupted: {detail}. Resume from an earlier checkpoint."
    )


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable. POSIX only: Windows cannot open a directory this way."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
