"""The append-only journal that makes the stand-in durable: one JSON record per line, replayed at start.

Each accepted write is appended and flushed to the OS before the HTTP response is sent (and fsynced as
well with ``--fsync``), so a stopped or killed process loses nothing it acknowledged. A torn last line
(a crash mid-write) is dropped on replay. Compaction rewrites the live state to a new file and renames
it over the old one, so a crash during compaction leaves the previous journal intact.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Iterator

import orjson

logger = logging.getLogger(__name__)

HEADER = {"op": "header", "format": 1, "by": "emulators.elastic"}


class JournalError(RuntimeError):
    """The journal cannot be read (corrupt in the middle, or not ours)."""


class Journal:
    """An append-only JSON-lines file."""

    def __init__(self, path: str | os.PathLike, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self.records_written = 0
        self._file = None

    def read(self) -> Iterator[tuple[dict, bytes]]:
        """Yield every complete record with its raw line; truncate a torn final line so appends start clean."""
        if not self.path.exists():
            return
        good_end = 0
        with open(self.path, "rb") as f:
            lineno = 0
            for line in f:
                lineno += 1
                if not line.endswith(b"\n"):
                    logger.warning("dropping a torn last journal line (%d bytes) in %s", len(line), self.path)
                    break
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    rest = f.read(1)
                    if rest:
                        raise JournalError(f"{self.path}: line {lineno} is not JSON") from None
                    logger.warning("dropping an unreadable last journal line in %s", self.path)
                    break
                good_end += len(line)
                self.records_written += 1
                if record.get("op") == "header":
                    continue
                yield record, line
        if good_end != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good_end)

    def open(self) -> None:
        """Open for appending, writing the header to a new file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "ab")
        if new:
            self.append([orjson.dumps(HEADER)])

    def append(self, lines: list[bytes]) -> None:
        """Write serialized records (no trailing newline) and flush before returning."""
        if not lines:
            return
        self._file.write(b"\n".join(lines) + b"\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self.records_written += len(lines)

    def rewrite(self, lines: Iterable[bytes]) -> None:
        """Replace the journal with ``lines`` atomically (write a sibling file, fsync, rename)."""
        tmp = self.path.with_name(self.path.name + ".compact")
        count = 0
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(HEADER) + b"\n")
            batch = []
            for line in lines:
                batch.append(line)
                count += 1
                if len(batch) >= 10_000:
                    f.write(b"\n".join(batch) + b"\n")
                    batch = []
            if batch:
                f.write(b"\n".join(batch) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        if self._file is not None:
            self._file.close()
        os.replace(tmp, self.path)
        self.records_written = count + 1
        self._file = open(self.path, "ab")

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None
