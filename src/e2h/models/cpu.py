"""Which compute dtype is fast here, and how fast this machine multiplies matrices.

On CUDA the engine computes in bfloat16. On a CPU, bfloat16 pays only where the CPU has native
bf16 instructions (AVX512-BF16, AMX, recent ARM cores); elsewhere, an AVX2-only x86 say, PyTorch
emulates it and a matmul runs ten or more times slower than in float32. So ``dtype="auto"``
times a ``PROBE_SIZE``² matmul in each dtype once per machine and picks bfloat16 only where it
is at least ``BF16_MIN_SPEEDUP`` times faster than float32; otherwise float32. The choice is
about speed only: pin ``dtype="float32"`` where bfloat16's precision matters.

Measurements are cached in ``$E2H_HOME/cpu/`` under the CPU's model name, the torch version and
the thread count, so later loads cost nothing. :func:`matmul_ceiling` measures the best square
matmul rate (GFLOP/s) per dtype: the ceiling benches compare the engine's tokens/s against
(a forward pass costs about 2 × parameters FLOPs per token).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from e2h.io import content_hash, write_json
from e2h.paths import cache_dir

PROBE_SIZE = 512  # bf16 emulated on AVX2 takes ~0.2 s per 512² matmul; native hardware much less
BF16_MIN_SPEEDUP = 1.5  # "clearly faster": bfloat16 must beat float32 by this factor
CEILING_SIZES = (256, 512, 1024, 2048, 4096)
PROBED = ("float32", "bfloat16")
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides a CPU's matmul speed per dtype


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> list[str]:
    """The :data:`VECTOR_FLAGS` this CPU has (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [f for f in VECTOR_FLAGS if f in flags]


def cpu_capability() -> str:
    """PyTorch's vector ISA for this CPU (``AVX2``, ``AVX512``, ``DEFAULT``, ...)."""
    return str(torch.backends.cpu.get_cpu_capability())


def matmul_gflops(dtype: str, size: int, budget_s: float = 0.3, max_reps: int = 5) -> float:
    """GFLOP/s of one ``size``² @ ``size``² matmul in ``dtype``: best of a few timed runs after a warm-up."""
    a = torch.randn(size, size).to(DTYPE_OF[dtype])  # (size, size)
    b = torch.randn(size, size).to(DTYPE_OF[dtype])
    best = _time(a, b)  # the warm-up counts when it is the only run that fits the budget
    start = time.perf_counter()
    for _ in range(max_reps):
        if time.perf_counter() - start + best > budget_s:
            break
        best = min(best, _time(a, b))
    return 2 * size**3 / best / 1e9


def choose_dtype(gflops: dict[str, float]) -> tuple[str, str]:
    """(dtype name, reason) from probe rates: bfloat16 only where clearly faster than float32."""
    fp32, bf16 = gflops["float32"], gflops["bfloat16"]
    speedup = bf16 / fp32 if fp32 > 0 else 0.0
    if speedup >= BF16_MIN_SPEEDUP:
        return "bfloat16", f"bfloat16 matmul {speedup:.1f}x float32 on this CPU (>= {BF16_MIN_SPEEDUP}x)"
    return "float32", f"bfloat16 matmul {speedup:.2f}x float32 on this CPU (< {BF16_MIN_SPEEDUP}x)"


def dtype_report(device: str | torch.device = "cpu") -> dict[str, Any]:
    """What ``dtype="auto"`` picks on ``device`` and why (small, JSON-ready, for provenance)."""
    device = torch.device(device)
    if device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        return {
            "device": "cuda",
            "gpu": torch.cuda.get_device_name(device),
            "dtype": "bfloat16" if bf16 else "float32",
            "reason": "CUDA with bfloat16 support" if bf16 else "this GPU lacks bfloat16",
        }
    if device.type != "cpu":
        return {"device": device.type, "dtype": "float32", "reason": f"float32 on {device.type}"}
    gflops = _measured("probe", lambda: {d: matmul_gflops(d, PROBE_SIZE) for d in PROBED})
    dtype, reason = choose_dtype(gflops)
    return {**_machine(), "device": "cpu", "dtype": dtype, "reason": reason, "probe_size": PROBE_SIZE, "gflops": gflops}


def auto_dtype(device: torch.device) -> torch.dtype:
    """The dtype ``dtype="auto"`` resolves to on ``device`` (see :func:`dtype_report`)."""
    return DTYPE_OF[dtype_report(device)["dtype"]]


def matmul_ceiling(refresh: bool = False) -> dict[str, float]:
    """This CPU's best measured square-matmul rate in GFLOP/s, per dtype (``float32``, ``bfloat16``).

    Sizes grow from 256 while the next one is predicted to take under a second, so an emulated
    bfloat16 stops early. Cached like the probe; ``refresh=True`` measures again (benches do, so
    the ceiling and the rate they compare with it come from the same run).
    """
    return _measured("ceiling", lambda: {d: _ceiling(d) for d in PROBED}, refresh)


DTYPE_OF = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _ceiling(dtype: str, max_s: float = 1.0) -> float:
    best = 0.0
    for size in CEILING_SIZES:
        gflops = matmul_gflops(dtype, size, budget_s=max_s)
        best = max(best, gflops)
        if 2 * (2 * size) ** 3 / gflops / 1e9 > max_s:  # the next size's predicted time
            break
    return best


def _time(a: torch.Tensor, b: torch.Tensor) -> float:
    start = time.perf_counter()
    a @ b
    return time.perf_counter() - start


def _machine() -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "capability": cpu_capability(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def _measured(kind: str, measure: Any, refresh: bool = False) -> dict[str, float]:
    """``measure()`` cached per machine in ``$E2H_HOME/cpu/<hash of the machine>.json`` under ``kind``."""
    machine = _machine()
    path = cache_dir("cpu") / f"{content_hash(machine)}.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    if refresh or not isinstance(saved.get(kind), dict):
        saved = {**saved, **machine, kind: {name: round(float(v), 2) for name, v in measure().items()}}
        write_json(path, saved)
    return dict(saved[kind])
