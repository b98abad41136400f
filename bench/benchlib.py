"""What the benchmark scripts share: where things are, the machine line, and BENCHMARKS.md's sections."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
import transformers

from e2h.io import atomic_open
from e2h.models.cpu import cpu_flags, cpu_name

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "BENCHMARKS.md"
LM_EVAL_PYTHON = ROOT / ".venv-lmeval" / "bin" / "python"  # `make bench` creates it (lm-eval pins its own packages)
LM_EVAL_WORKER = ROOT / "bench" / "lm_eval_parity.py"


def machine() -> str:
    """The CPU, its vector extensions, threads, library versions and the load average, for a benchmark's header."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    flags = " ".join(cpu_flags()) or "unknown"
    return (
        f"{cpu_name()} (flags: {flags}); {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; "
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}; "
        f"load average at the end {load}"
    )


def write_section(title: str, section: str) -> None:
    """Replace the section of BENCHMARKS.md that starts with ``## {title}`` by ``section`` (or put it first)."""
    old = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\n"
    marker = f"## {title}"
    if marker in old:
        head, _, rest = old.partition(marker)
        tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""  # the other sections stay
    else:
        head, tail = old[: old.find("\n## ") + 1] if "\n## " in old else old, old[old.find("\n## ") + 1 :]
        tail = tail if "\n## " in old else ""
    with atomic_open(REPORT) as handle:
        handle.write((head or "# Benchmarks\n\n") + section.rstrip() + "\n" + ("\n" + tail if tail else ""))
