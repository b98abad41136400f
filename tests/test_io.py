"""io: atomic writes leave either the old file or the new one; a killed writer's temporary file is cleared."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from e2h.io import atomic_open, remove_stale_temps, write_json

KILLED_WRITER = """
import os, signal, sys
from e2h.io import atomic_open
with atomic_open(sys.argv[1]) as handle:
    handle.write('{"half": ')
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_a_writer(target: Path) -> None:
    """Write ``target`` in another process and ``kill -9`` it halfway."""
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], check=False)
    assert result.returncode == -signal.SIGKILL


def test_a_killed_writer_leaves_the_old_file_and_a_temp_that_is_then_removed(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    write_json(target, {"cells": 3})
    (tmp_path / ".hidden").write_text("not ours")
    (tmp_path / "notes.tmp").write_text("not hidden: not ours")
    kill_a_writer(target)
    assert json.loads(target.read_text()) == {"cells": 3}  # the old content, whole
    leftovers = list(tmp_path.glob(".manifest.json.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].read_text() == '{"half": '
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "manifest.json", "notes.tmp"]
    assert remove_stale_temps(tmp_path / "absent") == 0


def test_atomic_open_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old")
    try:
        with atomic_open(target) as handle:
            handle.write("new, half")
            raise RuntimeError("failed while writing")
    except RuntimeError:
        pass
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
