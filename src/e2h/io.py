"""Atomic file writes, output-path checks and content hashes, shared by every cache and store in e2h.

A reader never sees a half-written file: data goes to a temporary file in the same
folder, which is then renamed over the target (``os.replace`` is atomic on POSIX).
A writer killed in between (``kill -9``) leaves a hidden ``.<name>.<random>.tmp``; nothing reads
those, and the run store and the report remove them (``remove_stale_temps``) when they next write.
"""

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from e2h.errors import E2HError

TEMP_PATTERN = ".*.tmp"  # the temporary files of atomic_path: ".<target name>.<random>.tmp"


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def check_writable(target: str | Path) -> Path:
    """``target`` if :func:`atomic_path` can write it (a missing folder it would make), else a one-line E2HError.

    For output paths a command takes: checked before the command loads or computes anything.
    """
    target = Path(target).expanduser()
    if target.is_dir():
        raise E2HError(f"cannot write {target}: it is a folder: name a file in it.")
    existing = next(p for p in target.parents if p.exists())  # the nearest existing folder
    if not existing.is_dir():
        raise E2HError(f"cannot write {target}: {existing} is a file, not a folder: choose another path.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError:
        raise E2HError(
            f"cannot write {target}: {existing} is not writable: choose a folder you can write to."
        ) from None
    return target


def remove_stale_temps(folder: str | Path) -> int:
    """Delete what killed writers (``kill -9``) left of :func:`atomic_path` in ``folder``; returns how many.

    Only for a folder that one process writes at a time (a run folder, its report): it would also
    delete another live writer's file in progress.
    """
    folder = Path(folder)
    stale = [p for p in folder.glob(TEMP_PATTERN) if p.is_file()] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``target`` only if the block succeeds."""
    with atomic_path(target) as tmp, open(tmp, mode) as handle:
        yield handle


def write_json(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_open(target) as handle:
        json.dump(obj, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def content_hash(*parts: Any, length: int = 16) -> str:
    """A short stable hash of JSON-serialisable parts (dict keys sorted)."""
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
