"""The recorder's merge of several workers' engine throughput for one model."""

from __future__ import annotations

import pytest

from e2h.experiments.recorder import merge_throughput


def report(tokens: float, seconds: float, params: float = 1e8, dtype: str = "float32") -> dict[str, float | str]:
    """What ``LanguageModel.throughput()`` returns for a model of ``params`` parameters."""
    rate = tokens / seconds
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": rate,
        "gflops": 2 * params * rate / 1e9,
        "dtype": dtype,
    }


def test_two_workers_add_up_to_one_report():
    merged = merge_throughput(report(3000, 10), report(1000, 30))
    assert merged["dtype"] == "float32"
    assert (merged["tokens"], merged["seconds"], merged["tokens_per_s"]) == (4000, 40, 100)
    assert merged["gflops"] == pytest.approx(2 * 1e8 * 100 / 1e9)
    assert merge_throughput(None, report(5, 1)) == report(5, 1)
    assert merge_throughput(report(1, 1), report(1, 1, dtype="bfloat16"))["dtype"] == "float32/bfloat16"
