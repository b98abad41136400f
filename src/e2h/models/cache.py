"""Per-request result caches of the engine: one SQLite file per (kind, model) under ``$E2H_HOME/engine``.

A row holds one request's result (``scores``: the choices' log-probs and token counts;
``hidden``: one layer's states of the choices; ``generations``: the generated text), keyed by a
content hash of the engine version, the model's fingerprint and dtype, the request's text, and
whatever else changes the result (the layer, the generation settings). So a subset, superset or
reordering of an earlier request list reuses every result already there and computes the rest.

SQLite (standard library) keeps thousands of small results in one file with atomic
transactions, and several processes may read and write at once (WAL journal).

Size cap: when the folder grows past ``E2H_CACHE_MAX_GB`` gigabytes (default
:data:`DEFAULT_MAX_GB`), the least recently used rows of every kind and model are deleted until
it is below 80% of the cap. ``e2h cache info`` shows the sizes, ``e2h cache clear`` empties it.

Portable: ``e2h cache export FILE`` writes the rows (of one model or kind, or all) into one SQLite
file, and ``e2h cache import FILE`` merges such a file into this machine's caches, so a long run can
be split across machines or sessions, or its results shipped, without recomputing a finished request.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from e2h.errors import E2HError
from e2h.io import atomic_path, check_writable
from e2h.paths import cache_dir, e2h_home

KINDS = ("scores", "hidden", "generations")
DEFAULT_MAX_GB = 20.0
_CHUNK = 500  # keys per SQL statement (SQLite limits the number of parameters)
_SCHEMA = "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value BLOB NOT NULL, size INTEGER, used REAL)"
_EXPORT_SCHEMA = "CREATE TABLE results (kind TEXT, model TEXT, key TEXT, value BLOB, PRIMARY KEY (kind, model, key))"


def engine_cache_dir() -> Path:
    """The folder of the engine's result caches, ``$E2H_HOME/engine``."""
    return cache_dir("engine")


def max_bytes() -> int:
    """The size cap of :func:`engine_cache_dir` in bytes (``E2H_CACHE_MAX_GB``)."""
    text = os.environ.get("E2H_CACHE_MAX_GB", "")
    try:
        gigabytes = float(text) if text else DEFAULT_MAX_GB
    except ValueError:
        raise E2HError(f"E2H_CACHE_MAX_GB={text!r} is not a number: set it to a size in gigabytes, e.g. 20.") from None
    return int(gigabytes * 1e9)


class ResultCache:
    """The results of one kind for one model: ``get`` by keys, ``put`` new ones."""

    def __init__(self, kind: str, model: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown cache kind {kind!r}")
        self.kind, self.model = kind, model
        self.path = engine_cache_dir() / kind / f"{model}.sqlite"

    def get(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that are there (and marks them as recently used)."""
        if not keys or not self.path.is_file():
            return {}
        found: dict[str, bytes] = {}
        with _connect(self.path) as con:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                found.update(con.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", chunk))
            hits = list(found)
            for start in range(0, len(hits), _CHUNK):
                chunk = hits[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                con.execute(f"UPDATE results SET used = ? WHERE key IN ({marks})", [time.time(), *chunk])
        return found

    def put(self, values: Mapping[str, bytes]) -> None:
        """Store ``values`` (one transaction), then keep the folder under its size cap."""
        if not values:
            return
        now = time.time()
        with _connect(self.path) as con:
            con.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
                [(key, value, len(value), now) for key, value in values.items()],
            )
        enforce_cap()


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection inside one transaction (committed on success), closed afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=120)
    try:
        con.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect on a new file only
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute(_SCHEMA)
        with con:
            yield con
    finally:
        con.close()


def _files(kind: str | None = None, model: str | None = None) -> list[Path]:
    root = e2h_home() / "engine"
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.glob(f"{kind or '*'}/{model or '*'}.sqlite") if p.parent.name in KINDS and p.is_file()
    )


def _size(path: Path) -> int:
    """Bytes on disk of a cache file with its journal files."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


@dataclass(frozen=True)
class CacheInfo:
    """One cache file: its kind, model, number of results and bytes on disk."""

    kind: str
    model: str
    entries: int
    bytes: int
    path: Path


def cache_info() -> list[CacheInfo]:
    """Every cache file of the engine, by kind then model."""
    rows = []
    for path in _files():
        with _connect(path) as con:
            (entries,) = con.execute("SELECT COUNT(*) FROM results").fetchone()
        rows.append(CacheInfo(path.parent.name, path.stem, int(entries), _size(path), path))
    return rows


def clear(kind: str | None = None, model: str | None = None) -> list[CacheInfo]:
    """Delete the cache files of ``kind`` and ``model`` (every one when ``None``); return what went."""
    if kind is not None and kind not in KINDS:
        raise E2HError(f"unknown cache kind {kind!r}: use one of {', '.join(KINDS)}.")
    removed = [info for info in cache_info() if kind in (None, info.kind) and model in (None, info.model)]
    for info in removed:
        for path in (info.path, Path(f"{info.path}-wal"), Path(f"{info.path}-shm")):
            path.unlink(missing_ok=True)
    return removed


def enforce_cap(limit: int | None = None) -> int:
    """Delete the least recently used results while the folder is over ``limit`` bytes; return bytes freed."""
    limit = max_bytes() if limit is None else limit
    files = _files()
    total = sum(_size(p) for p in files)
    if total <= limit:
        return 0
    used, sizes = [], []
    for path in files:
        with _connect(path) as con:
            rows = np.array(con.execute("SELECT used, size FROM results").fetchall(), dtype=float).reshape(-1, 2)
        used.append(rows[:, 0])
        sizes.append(rows[:, 1])
    order = np.argsort(np.concatenate(used), kind="stable")
    freed = np.cumsum(np.concatenate(sizes)[order])
    n_drop = int(np.searchsorted(freed, total - 0.8 * limit)) + 1  # oldest rows until 80% of the cap
    cutoff = np.concatenate(used)[order][min(n_drop, len(order)) - 1] if len(order) else -np.inf
    for path in files:
        with _connect(path) as con:
            con.execute("DELETE FROM results WHERE used <= ?", (float(cutoff),))
        with contextlib.closing(sqlite3.connect(path, timeout=120)) as con:
            con.execute("PRAGMA incremental_vacuum").fetchall()  # frees pages only while stepped
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return total - sum(_size(p) for p in files)


def export_rows(target: str | Path, kind: str | None = None, model: str | None = None) -> int:
    """Write the results of ``kind`` and ``model`` (every one when ``None``) into one SQLite file; return how many."""
    target = check_writable(target)
    sources = [info for info in cache_info() if kind in (None, info.kind) and model in (None, info.model)]
    if not sources:
        raise E2HError(
            f"no cached results of kind {kind or 'any'} and model {model or 'any'}: `e2h cache info` lists them."
        )
    n_rows = 0
    with atomic_path(target) as tmp, contextlib.closing(sqlite3.connect(tmp)) as out:
        out.execute(_EXPORT_SCHEMA)
        for info in sources:
            with _connect(info.path) as con:
                rows = con.execute("SELECT key, value FROM results").fetchall()
            with out:
                out.executemany(
                    "INSERT INTO results VALUES (?, ?, ?, ?)", [(info.kind, info.model, k, v) for k, v in rows]
                )
            n_rows += len(rows)
        out.execute("VACUUM")
    return n_rows


def import_rows(source: str | Path) -> dict[tuple[str, str], int]:
    """Merge an :func:`export_rows` file into the caches (rows already here are kept); new rows per (kind, model)."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise E2HError(f"cannot import {source}: no such file: give a file written by `e2h cache export`.")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as con:
            groups = con.execute("SELECT kind, model, COUNT(*) FROM results GROUP BY kind, model").fetchall()
            added: dict[tuple[str, str], int] = {}
            for kind, model, _ in groups:
                if kind not in KINDS or Path(model).name != model:
                    raise E2HError(f"cannot import {source}: bad cache kind or model {kind!r}/{model!r}.")
                rows = con.execute("SELECT key, value FROM results WHERE kind = ? AND model = ?", (kind, model))
                now = time.time()
                with _connect(ResultCache(kind, model).path) as target:
                    before = target.total_changes
                    target.executemany(
                        "INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?)", [(k, v, len(v), now) for k, v in rows]
                    )
                    added[(kind, model)] = target.total_changes - before
    except sqlite3.DatabaseError as error:
        raise E2HError(f"cannot import {source}: not a file written by `e2h cache export` ({error}).") from None
    enforce_cap()
    return added
