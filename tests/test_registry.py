"""did_you_mean: the one suggestion helper behind every unknown-name error."""

from __future__ import annotations

import pytest

from e2h.errors import E2HError
from e2h.registry import Registry, did_you_mean


def test_did_you_mean_lists_close_names_or_nothing() -> None:
    options = ["human_grade", "human_bloom", "num_steps"]
    assert did_you_mean("human_grde", options) == "did you mean 'human_grade', 'human_bloom'?"  # best first
    assert did_you_mean("human_grde", options, n=1) == "did you mean 'human_grade'?"
    assert did_you_mean("icl", ["icl-cot", "icl", "lora"], n=2) == "did you mean 'icl', 'icl-cot'?"
    assert did_you_mean("zzz", ["icl", "lora"]) == ""


def test_registry_error_uses_it() -> None:
    registry: Registry[int] = Registry("learner", hint="See `e2h eval --help`.")
    registry.register("icl", 1)
    registry.register("lora", 2)
    with pytest.raises(E2HError) as info:
        registry.get("ilc")
    assert str(info.value) == "unknown learner 'ilc': did you mean 'icl'? known: icl, lora. See `e2h eval --help`."
    with pytest.raises(E2HError, match=r"unknown learner 'xyz': known: icl, lora\."):
        registry.get("xyz")
