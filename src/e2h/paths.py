"""Where e2h keeps its caches: ``$E2H_HOME`` (default ``~/.cache/e2h``)."""

import os
from pathlib import Path


def e2h_home() -> Path:
    """The root of every e2h cache; created on first use."""
    home = Path(os.environ.get("E2H_HOME") or Path.home() / ".cache" / "e2h").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir(*parts: str) -> Path:
    """A sub-folder of :func:`e2h_home`, created on first use (e.g. ``cache_dir("assets")``)."""
    path = e2h_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
