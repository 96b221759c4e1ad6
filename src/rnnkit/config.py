"""Settings are data: dataclasses read from JSON or TOML dicts, checked, never executed."""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], data: dict, *, what: str) -> T:
    """Build the dataclass ``cls`` from ``data``, naming any key it does not know."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; this rnnkit knows {sorted(known)}")
    return cls(**data)
