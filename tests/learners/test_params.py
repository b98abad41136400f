"""Declared parameter values: the allowed values of every learner parameter, checked before any model loads."""

from __future__ import annotations

import numpy as np
import pytest

from e2h.errors import E2HError
from e2h.learners import ICL, LEARNERS, LinearProbe, LoRA, Param
from e2h.learners.params import Interval, ListOf, Options, Text, check_params, check_value


@pytest.mark.parametrize(
    ("allowed", "good", "bad", "problem"),
    [
        ((Interval(int, 0),), [0, 7, np.int64(3)], ["3", 2.0, True, -1, None], "must be a whole number >= 0"),
        ((Interval(float, 0, closed="neither"),), [1e-4, 3, np.float32(0.5)], [0, -1.0, "1e-4", float("nan")], "> 0"),
        ((Interval(float, 0, 1, closed="left"),), [0, 0.1, 0.999], [1, 1.5, -0.1], "must be a number in [0, 1)"),
        ((Options("sgd", "lbfgs"),), ["sgd", "lbfgs"], ["SGD", "sgdd", 1, None], "must be one of sgd, lbfgs"),
        ((None, ListOf(Interval(int, 0))), [None, [0, 3], (1,)], [[], [1, "x"], 3, "3"], "must be null or a list"),
        ((Options("auto"), Text(r"\S\s+\S", "the text itself")), ["auto", "Say it."], ["autoo", ""], "the text itself"),
    ],
)
def test_constraints_accept_and_refuse(allowed, good, bad, problem):
    for value in good:
        assert check_value(value, allowed) == "", value
    for value in bad:
        assert problem in check_value(value, allowed), value


def test_problems_name_the_value_the_rule_the_default_and_a_near_miss():
    params = {
        "solver": Param("sgd", "optimiser", allowed=(Options("sgd", "lbfgs"),)),
        "lr": Param(0.05, "step size", allowed=(Interval(float, 0, closed="neither"),)),
        "layers": Param(None, "which", allowed=(None, ListOf(Interval(int, 0)))),
    }
    problems = check_params(params, {"solver": "sgdd", "lr": "1e-3", "layers": [2]})
    assert problems == [
        "solver='sgdd' must be one of sgd, lbfgs (did you mean 'sgd'?) (default 'sgd')",
        "lr='1e-3' must be a number > 0 (YAML reads 1e-3 as text: write 1.0e-3) (default 0.05)",
    ]
    assert check_params(params, {"unknown": 1}) == []  # names are check_options' job


def test_every_builtin_parameter_declares_its_values_and_its_default_meets_them():
    for name in LEARNERS.names():
        for key, param in LEARNERS.get(name).params.items():
            assert param.allowed, f"{name}.{key} declares no allowed values"
            assert check_value(param.default, param.allowed) == "", (name, key)


def test_a_learner_refuses_bad_values_when_made_and_when_resolved(tiny_lm):
    with pytest.raises(E2HError, match=r"^learner 'icl': k=-2 must be a whole number >= 0 \(default 10\)\.$"):
        ICL(tiny_lm, k=-2)
    with pytest.raises(E2HError, match=r"has no option 'kk'.*; k='x' must be a whole number"):
        ICL.check_options({"kk": 1, "k": "x"})
    with pytest.raises(E2HError, match="format='clozed' must be one of cloze,"):
        LinearProbe.resolve({}, {"format": "clozed"})  # a shared run option is checked too
    assert LoRA.resolve({"epochs": 2}, {"seed": 3})["epochs"] == 2


def test_a_param_without_allowed_values_takes_anything():
    assert check_params({"x": Param(1, "anything")}, {"x": object()}) == []
