"""e2h.models.cpu: the dtype choice from a matmul probe (faked here: no timing asserts), and the ceiling."""

from __future__ import annotations

import json

import pytest
import torch

from e2h.errors import E2HError
from e2h.models import cpu, load_model
from e2h.models.loading import resolve_dtype

CPU = torch.device("cpu")


@pytest.fixture
def fake_probe(tmp_path, monkeypatch):
    """An empty E2H_HOME and a probe that returns given GFLOP/s per dtype, counting its calls; ``dtype="auto"``
    resolves through it (no ``E2H_DTYPE``, which the suite sets elsewhere, see conftest)."""
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("E2H_DTYPE")
    calls: list[tuple[str, int]] = []
    rates: dict[str, float] = {}

    def fake(dtype: str, size: int, **_: object) -> float:
        calls.append((dtype, size))
        return rates[dtype]

    monkeypatch.setattr(cpu, "matmul_gflops", fake)
    return rates, calls


@pytest.mark.parametrize(
    ("fp32", "bf16", "expected"),
    [(98.0, 1.3, "float32"), (100.0, 120.0, "float32"), (100.0, 400.0, "bfloat16"), (0.0, 5.0, "float32")],
)
def test_bfloat16_only_where_clearly_faster(fp32, bf16, expected):
    dtype, reason = cpu.choose_dtype({"float32": fp32, "bfloat16": bf16})
    assert dtype == expected and "x float32" in reason


def test_avx2_like_probe_picks_float32_and_is_cached(fake_probe):
    rates, calls = fake_probe
    rates.update(float32=98.0, bfloat16=1.3)  # what an AVX2-only EPYC measures
    report = cpu.dtype_report("cpu")
    assert report["dtype"] == "float32" and report["gflops"] == {"float32": 98.0, "bfloat16": 1.3}
    assert report["cpu"] == cpu.cpu_name() and report["threads"] == torch.get_num_threads()
    assert json.dumps(report)  # ready for a results file's provenance
    assert resolve_dtype("auto", CPU) == torch.float32
    assert len(calls) == 2, "measured once per machine, then read from the cache"


def test_fast_bfloat16_is_chosen_and_explicit_dtype_still_wins(fake_probe):
    rates, _ = fake_probe
    rates.update(float32=100.0, bfloat16=400.0)  # a CPU with native bf16 (AMX)
    assert resolve_dtype("auto", CPU) == torch.bfloat16
    assert resolve_dtype(None, CPU) == torch.bfloat16
    assert load_model("tiny-random", device="cpu").dtype == torch.bfloat16
    lm = load_model("tiny-random", device="cpu", dtype="float32")
    assert lm.dtype == torch.float32 and next(lm.model.parameters()).dtype == torch.float32


def test_ceiling_grows_the_size_while_the_next_fits_a_second(fake_probe):
    rates, calls = fake_probe
    rates.update(float32=50.0, bfloat16=1.0)
    assert cpu.matmul_ceiling() == {"float32": 50.0, "bfloat16": 1.0}
    # float32 at 50 GFLOP/s: 2048² takes 0.34 s, 4096² would take 2.7 s; bfloat16 at 1: 1024² would take 2.1 s
    assert calls == [("float32", s) for s in (256, 512, 1024, 2048)] + [("bfloat16", s) for s in (256, 512)]
    rates.update(float32=60.0)
    assert cpu.matmul_ceiling()["float32"] == 50.0  # cached
    assert cpu.matmul_ceiling(refresh=True)["float32"] == 60.0


def test_auto_resolves_to_a_valid_dtype_on_this_machine():
    assert resolve_dtype("auto", CPU) in (torch.float32, torch.bfloat16)
    report = cpu.dtype_report("cpu")
    assert report["dtype"] in ("float32", "bfloat16") and report["capability"] == cpu.cpu_capability()
    assert all(rate > 0 for rate in report["gflops"].values())
    assert cpu.matmul_gflops("float32", 64) > 0


def test_e2h_dtype_sets_what_auto_means_and_a_typo_is_one_line(fake_probe, monkeypatch):
    rates, _ = fake_probe
    rates.update(float32=100.0, bfloat16=400.0)
    monkeypatch.setenv("E2H_DTYPE", "float32")
    assert resolve_dtype("auto", CPU) == torch.float32 and resolve_dtype(None, CPU) == torch.float32
    assert resolve_dtype("bfloat16", CPU) == torch.bfloat16  # an explicit dtype still wins
    monkeypatch.setenv("E2H_DTYPE", "fp32")
    with pytest.raises(E2HError, match=r"^E2H_DTYPE='fp32' is not a dtype: set it to auto or one of float32"):
        resolve_dtype("auto", CPU)


def test_cpu_flags_reads_the_vector_extensions_of_proc_cpuinfo(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("model name\t: Some CPU\nflags\t\t: fpu sse avx2 fma avx512f avx512bw avx512_bf16\n")
    real_path = cpu.Path
    monkeypatch.setattr(cpu, "Path", lambda p: info if p == "/proc/cpuinfo" else real_path(p))
    assert cpu.cpu_flags() == ["avx2", "avx512f", "avx512_bf16"]
    info.write_text("model name\t: Other\nflags\t\t: fpu sse avx2\n")
    assert cpu.cpu_flags() == ["avx2"]
