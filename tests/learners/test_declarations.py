"""What a learner declares for the rest of e2h (generative or not, GPU or not), and the engine surface it uses."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from e2h.learners import LEARNERS, LM, ICLChainOfThought, LinearProbe, LoRA, QLoRA, ZeroShot, ZeroShotChainOfThought

SRC = Path(__file__).resolve().parents[2] / "src" / "e2h"


def _learner_name_branches(path: Path, names: set[str]) -> list[str]:
    """Comparisons with a learner name, and literal collections made only of learner names, in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            if any(isinstance(p, ast.Constant) and p.value in names for p in parts):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
        elif (
            isinstance(node, ast.Tuple | ast.List | ast.Set)
            and node.elts
            and all(isinstance(e, ast.Constant) and e.value in names for e in node.elts)
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_nothing_outside_the_learners_branches_on_a_learner_name():
    names = set(LEARNERS.names())
    modules = [p for p in SRC.rglob("*.py") if "learners" not in p.relative_to(SRC).parts]
    assert [hit for path in modules for hit in _learner_name_branches(path, names)] == []


def test_each_learner_declares_whether_it_generates_and_wants_a_gpu():
    assert ICLChainOfThought.generative and ZeroShotChainOfThought.generative
    assert not ZeroShot.generative and not LinearProbe.generative
    assert LoRA.generates({"objective": "cot"}) and not LoRA.generates({"objective": "mc"})
    assert ICLChainOfThought.generates({}) and not ZeroShot.generates({"format": "cot"})
    assert LoRA.wants_gpu and QLoRA.wants_gpu and not LinearProbe.wants_gpu and not ZeroShot.wants_gpu


def test_the_ray_backend_reads_the_gpu_declaration(monkeypatch, tmp_path):
    """A learner registered under any name gets a GPU when it declares it wants one."""
    from e2h.experiments import parse_config
    from e2h.experiments.ray_backend import cell_resources

    class Tuner(ZeroShot):
        name = "tuner"
        wants_gpu = True

    monkeypatch.setitem(LEARNERS._items, Tuner.name, Tuner)
    config = parse_config(
        {
            "name": "r",
            "models": ["tiny-random"],
            "datasets": [{"name": "arc", "measures": ["human_grade"]}],
            "learners": ["zero-shot"],
        },
        base_dir=tmp_path,
    )
    assert cell_resources(config, "tiny-random", "tuner", cluster_gpus=1) == {"num_cpus": 1, "num_gpus": 1}
    assert cell_resources(config, "tiny-random", "zero-shot", cluster_gpus=1) == {"num_cpus": 1}


def test_the_engine_and_the_measures_memo_have_the_declared_surface(tiny_lm):
    from e2h.measures.memo import MemoLM
    from e2h.models import LanguageModel

    assert isinstance(tiny_lm, LM) and isinstance(MemoLM(tiny_lm), LM)
    members = [m for m in vars(LM) if not m.startswith("_")]
    assert {"score", "hidden_states", "generate", "count_tokens", "choice_logprobs", "sequence_loss"} <= set(members)
    for member in members:
        declared = getattr(LM, member)
        if not callable(declared):
            continue
        real = inspect.signature(getattr(LanguageModel, member))
        for name, param in inspect.signature(declared).parameters.items():
            assert name in real.parameters, f"LanguageModel.{member} has no parameter {name}"
            assert real.parameters[name].kind == param.kind, (member, name)


@pytest.mark.parametrize("attribute", ["name", "model", "device", "max_length"])
def test_the_engine_attributes_the_learners_read_are_declared(attribute):
    assert attribute in LM.__annotations__
