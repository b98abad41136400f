"""Fixtures shared by the whole suite.

Real reference files come from ``../shared/data`` beside the checkout when it exists; a test that
needs one asks for its fixture (``strategyqa_file``) or carries the ``shared_data`` marker, and skips
with a reason when the file is absent. The ARC annotations ship with e2h, so their fixture
(``arc_annotations``) never skips. Real assets are fetched into ``$E2H_HOME`` on first use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("E2H_QUIET", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: Environment variable → reference file that stands in for the asset (never taken from the user's shell).
REFERENCE_FILES = {"E2H_STRATEGYQA": SHARED_DATA / "bigbench-strategyqa-task.json"}
#: hand-supplied asset variables no test takes from the user's shell (the file ships with e2h)
UNSET = ("E2H_ARC_ANNOTATIONS",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shared_data(*names): needs these files of ../shared/data (default: all); skips without them"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("shared_data")
        if marker is None:
            continue
        paths = [SHARED_DATA / name for name in marker.args] or list(REFERENCE_FILES.values())
        if reason := _missing(*paths):
            item.add_marker(pytest.mark.skip(reason=reason))


def _missing(*paths: Path) -> str:
    """Why a test needing ``paths`` must skip, or "" when they are all there."""
    names = [p.name for p in paths if not p.is_file()]
    return f"needs {', '.join(names)} from ../shared/data beside this checkout" if names else ""


def _require(*paths: Path) -> None:
    if reason := _missing(*paths):
        pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of reference files, or skip."""
    _require(*REFERENCE_FILES.values())
    return SHARED_DATA


@pytest.fixture(scope="session")
def arc_annotations() -> Path:
    """The ARC human annotations as e2h ships them, unpacked into the suite's ``$E2H_HOME`` (the default file)."""
    from e2h import assets

    return assets.fetch("arc-annotations")


@pytest.fixture(scope="session")
def strategyqa_file() -> Path:
    """StrategyQA as shipped in BIG-bench (the file ``E2H_STRATEGYQA`` points at in every test), or skip."""
    path = REFERENCE_FILES["E2H_STRATEGYQA"]
    _require(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _machine_independent_defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the suite must not take from this machine or this user, set before any model loads:

    - ``dtype="auto"`` is float32 (``E2H_DTYPE``, also in subprocesses and Ray workers). Where bfloat16 matmuls
      are clearly faster (AVX-512 BF16) auto would pick bfloat16, and the engine's exactness tests (fast vs naive,
      to 1e-5) are written for float32.
    - ``$E2H_HOME`` is a fresh folder that shares the user's downloads, converted models, engine and CPU caches
      (links) but not their computed measures: a cached ``mdl_proxy_smollm2-135m`` of arc would add a column to
      every built-in ARC table.
    """
    from e2h.paths import e2h_home

    user_home, home = e2h_home(), tmp_path_factory.mktemp("e2h_home")
    for part in ("assets", "models", "engine", "cpu"):
        (user_home / part).mkdir(parents=True, exist_ok=True)
        (home / part).symlink_to(user_home / part, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("E2H_HOME", str(home))
        patch.setenv("E2H_DTYPE", "float32")
        yield


@pytest.fixture(autouse=True)
def _reference_files_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the hand-supplied asset variables at ../shared/data, or unset them when it is absent,
    so that no test depends on what the user's shell sets."""
    for variable, path in REFERENCE_FILES.items():
        if path.is_file():
            monkeypatch.setenv(variable, str(path))
        else:
            monkeypatch.delenv(variable, raising=False)
    for variable in UNSET:
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture(scope="session")
def tiny_lm():
    """The tiny random Llama behind the engine (milliseconds per call)."""
    from e2h.models import load_model

    return load_model("tiny-random")


@pytest.fixture
def e2h_cli(capsys):
    """Run ``e2h ARGV`` in this process: ``(exit code, stdout, stderr)``."""
    from e2h.cli import main

    def run(argv: list[str]) -> tuple[int, str, str]:
        code = 0
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
