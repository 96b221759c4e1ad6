"""Live progress on the terminal and a metrics log (JSON lines) on disk."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO


class Progress:
    """One status line: rewritten in place on a terminal, printed every ``every`` updates elsewhere."""

    def __init__(self, *, stream: TextIO | None = None, every: int = 100, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every = max(1, every)
        self.enabled = enabled
        self.live = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_draw = 0.0
        self._count = 0

    def update(self, text: str) -> None:
        if not self.enabled:
            return
        self._count += 1
        if self.live:
            now = time.perf_counter()
            if now - self._last_draw >= 0.2:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self._last_draw = now
        elif self._count % self.every == 0:
            self.stream.write(text + "\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line that stays (epoch summaries, warnings)."""
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()


def bar(done: int, total: int, width: int = 20) -> str:
    filled = int(width * min(done, total) / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


class MetricsLog:
    """Append-only JSON-lines file of training records (each a dict with a ``step``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step`` (written after the checkpoint a run resumes from)."""
        kept = [r for r in self.records() if r.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
