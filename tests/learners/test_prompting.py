"""Zero-shot, ICL and ICL+CoT on the tiny random model (paths and invariants), and on SmolLM2 (integration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2h.errors import E2HError
from e2h.learners import LEARNERS, make_learner
from e2h.learners.prompting import (
    ICL,
    NORMALIZATIONS,
    ICLChainOfThought,
    ZeroShot,
    ZeroShotChainOfThought,
    predict_generative,
    score_all,
    softmax,
)
from e2h.models.templates import build_request, format_demos, uncond_request


def _mc_items(n: int, prefix: str = "q") -> pd.DataFrame:
    """Handwritten multiple-choice items with 2 to 4 choices (the label cycles)."""
    words = ["red", "green", "blue", "yellow", "black", "white"]
    rows = []
    for i in range(n):
        n_choices = 2 + i % 3
        rows.append(
            {
                "id": f"{prefix}/{i}",
                "dataset": "toy",
                "question": f"Which colour is number {i}?",
                "choices": [words[(i + j) % len(words)] for j in range(n_choices)],
                "label": i % n_choices,
                "reasoning": f"Colour {i} is listed.",
                "subject": "",
                "source_split": "test",
            }
        )
    return pd.DataFrame(rows)


def _gsm_items(n: int) -> pd.DataFrame:
    rows = [
        {
            "id": f"g/{i}",
            "dataset": "gsm8k",
            "question": f"What is {i} + {i}?",
            "choices": [str(2 * i)],
            "label": 0,
            "reasoning": f"{i} + {i} = {2 * i}.",
            "subject": "",
            "source_split": "test",
            "answer_kind": "number",
        }
        for i in range(n)
    ]
    return pd.DataFrame(rows)


class _ScriptedLM:
    """Stands in for the engine in ``predict_generative``: returns handwritten generations."""

    def __init__(self, generations: list[str]) -> None:
        self.generations = generations
        self.calls = 0

    def generate(self, prompts: list[str], *, max_new_tokens: int, stop: tuple[str, ...]) -> list[str]:
        self.calls += 1
        return self.generations[: len(prompts)]


class _Recorder:
    """Wraps ``lm.score`` to record every request the learner sends."""

    def __init__(self, lm, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list = []
        original = lm.score

        def score(requests, **kwargs):
            self.requests.extend(requests)
            return original(requests, **kwargs)

        monkeypatch.setattr(lm, "score", score)


def test_registry_and_make_learner(tiny_lm) -> None:
    assert {"zero-shot", "icl", "icl-cot"} <= set(LEARNERS.names())
    learner = make_learner("icl", tiny_lm, k=3, seed=4)
    assert isinstance(learner, ICL) and learner.get_params() == {
        "k": 3,
        "format": "listed",
        "normalization": "raw",
        "extraction": "last",
        "seed": 4,
    }
    with pytest.raises(E2HError, match="did you mean 'icl'"):
        make_learner("icl2", tiny_lm)
    with pytest.raises(E2HError, match="has no option 'k'; it takes: format, normalization"):
        make_learner("zero-shot", tiny_lm, k=3)


def test_zero_shot_probabilities_cover_the_real_choices(tiny_lm) -> None:
    test = _mc_items(6)
    preds = ZeroShot(tiny_lm).fit(None).predict(test)
    assert len(preds) == 6
    for probs, choices in zip(preds.probs, test["choices"], strict=True):
        assert probs.shape == (len(choices),)
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.array_equal(preds.pred, [int(np.argmax(p)) for p in preds.probs])
    assert np.array_equal(preds.correct, preds.pred == test["label"].to_numpy())
    assert preds.info["k_used"] == 0
    again = ZeroShot(tiny_lm).predict(test)  # fit is optional for zero-shot
    assert all(np.array_equal(a, b) for a, b in zip(preds.probs, again.probs, strict=True))


@pytest.mark.parametrize("fmt", ["cloze", "listed", "letters", "qa"])
def test_every_normalization_from_one_pass_matches_a_direct_computation(tiny_lm, fmt: str) -> None:
    test = _mc_items(5)
    demos = format_demos([row for _, row in _mc_items(2, "d").iterrows()], fmt)
    probs = score_all(tiny_lm, test, fmt, demos)
    for i, (_, item) in enumerate(test.iterrows()):
        request = build_request(item, fmt, demos)
        (naive,) = tiny_lm.score_naive([request])
        (uncond,) = tiny_lm.score_naive([uncond_request(item, fmt)])
        chars = np.array([len(c) - 1 for c in request.continuations])  # lm-eval: the leading space is not counted
        direct = {
            "raw": naive.logprob,
            "per_token": naive.logprob / naive.n_tokens,
            "per_char": naive.logprob / chars,
            "uncond": naive.logprob - uncond.logprob,
        }
        for name in NORMALIZATIONS:
            np.testing.assert_allclose(probs[name][i], softmax(direct[name]), atol=1e-4, err_msg=name)


def test_icl_draws_the_same_demos_once_for_every_test_item(tiny_lm, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = _mc_items(12, "train"), _mc_items(5)
    first = ICL(tiny_lm, k=3, seed=1).fit(train)
    assert first.demo_ids_ == ICL(tiny_lm, k=3, seed=1).fit(train).demo_ids_
    assert first.demo_ids_ != ICL(tiny_lm, k=3, seed=2).fit(train).demo_ids_
    assert set(first.demo_ids_) <= set(train["id"])
    recorder = _Recorder(tiny_lm, monkeypatch)
    preds = first.predict(test)
    prefixes = {r.prefix for r in recorder.requests}
    demos = [train.set_index("id").loc[i].to_dict() for i in first.demo_ids_]
    assert prefixes == {format_demos(demos, "listed")}  # one prefix, gold labels as given
    assert preds.info["k_used"] == 3
    again = ICL(tiny_lm, k=3, seed=1).fit(train).predict(test)
    assert all(np.array_equal(a, b) for a, b in zip(preds.probs, again.probs, strict=True))


def test_icl_drops_demos_that_overflow_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from e2h.models import load_model

    lm = load_model("tiny-random")
    train, test = _mc_items(10, "train"), _mc_items(3)
    full = ICL(lm, k=6, format="cloze", seed=0).fit(train)
    demos = [train.set_index("id").loc[i].to_dict() for i in full.demo_ids_]
    two_demos = lm.count_tokens(format_demos(demos[:2], "cloze"))
    longest = max(
        lm.count_tokens(r.context) + max(lm.count_tokens(c) for c in r.continuations)
        for r in (build_request(item, "cloze") for _, item in test.iterrows())
    )
    monkeypatch.setattr(lm, "max_length", two_demos + longest + 1 + 2)  # exactly two demos (+ BOS, + 2 boundary slack)
    preds = full.predict(test)
    assert preds.info["k_used"] == 2
    assert preds.info["demo_ids"] == full.demo_ids_[:2]
    for probs in preds.probs:
        assert probs.sum() == pytest.approx(1.0)


def test_icl_needs_k_training_items(tiny_lm) -> None:
    with pytest.raises(E2HError, match=r"ICL\(k=5\) needs at least 5 training items but got 3"):
        ICL(tiny_lm, k=5).fit(_mc_items(3))
    with pytest.raises(E2HError, match="not fitted"):
        ICL(tiny_lm, k=1).predict(_mc_items(2))


def test_bad_format_or_normalization_is_one_clear_error(tiny_lm) -> None:
    with pytest.raises(E2HError, match=r"^learner 'zero-shot': format='clozed' must be one of cloze, .*cloze'\?"):
        ZeroShot(tiny_lm, format="clozed")
    with pytest.raises(E2HError, match="normalization='per_word' must be one of raw, per_token, per_char, uncond"):
        ZeroShot(tiny_lm, normalization="per_word")


def test_cot_runs_generates_and_grades(tiny_lm) -> None:
    train, test = _gsm_items(6), _gsm_items(3)
    learner = ICLChainOfThought(tiny_lm, k=2, max_new_tokens=8, seed=0).fit(train)
    preds = learner.predict(test)
    assert len(preds.generation) == len(preds.extracted) == 3
    assert preds.info["n_unextractable"] == sum(e is None for e in preds.extracted)
    assert preds.info["k_used"] == 2
    for extracted, correct, pred, probs in zip(preds.extracted, preds.correct, preds.pred, preds.probs, strict=True):
        assert probs.tolist() == ([1.0] if correct else [0.0])
        assert pred == (0 if correct else -1)
        if extracted is None:
            assert not correct


def test_cot_on_multiple_choice_maps_answers_to_choices(tiny_lm) -> None:
    train, test = _mc_items(4, "train"), _mc_items(3)
    preds = ICLChainOfThought(tiny_lm, k=2, max_new_tokens=6).fit(train).predict(test)
    for probs, pred in zip(preds.probs, preds.pred, strict=True):
        assert probs.sum() == (1.0 if pred >= 0 else 0.0)


def test_cot_needs_reasoning(tiny_lm) -> None:
    train = _gsm_items(4).assign(reasoning=["a", "", "b", "c"])
    with pytest.raises(E2HError, match="1 of 4 training items have no `reasoning`"):
        ICLChainOfThought(tiny_lm, k=2).fit(train)


def test_generative_items_are_answered_by_generation(tiny_lm) -> None:
    preds = ICL(tiny_lm, k=2, format="qa").fit(_gsm_items(4)).predict(_gsm_items(3))
    assert preds.generation is not None and len(preds.extracted) == 3
    with pytest.raises(E2HError, match="evaluate generative and multiple-choice items separately"):
        ZeroShot(tiny_lm).predict(pd.concat([_gsm_items(1), _mc_items(1)], ignore_index=True))


# GSM8k-like items (the dataset name is not one the code knows): gold 5, 12, 7, 3.
SUMS = pd.DataFrame(
    {
        "id": ["s/1", "s/2", "s/3", "s/4"],
        "dataset": "sums",
        "question": ["2 + 3?", "6 + 6?", "3 + 4?", "1 + 2?"],
        "choices": [["5"], ["12"], ["7"], ["3"]],
        "label": 0,
        "answer_kind": "number",
    }
)
SUM_GENERATIONS = [
    " 2 + 3 = 5. So the answer is 5 apples.",  # right under both rules; "5 apples" is no *choice* "5"
    " So the answer is 12. Then the answer is 13.",  # first: 12 (right), last: 13
    " 3 + 4 = 7",  # no trigger: last reads the whole text (7, right), first finds no answer
    " So the answer is 4.",  # wrong under both
]


@pytest.mark.parametrize(
    ("extraction", "extracted", "correct"),
    [
        ("last", ["5", "13", "7", "4"], [True, False, True, False]),
        ("first", ["5", "12", None, "4"], [True, True, False, False]),
    ],
)
def test_generations_are_graded_by_the_items_answer_kind_and_the_rule(extraction, extracted, correct) -> None:
    preds = predict_generative(_ScriptedLM(SUM_GENERATIONS), SUMS, ["p"] * 4, 16, extraction=extraction)
    assert preds.extracted == extracted
    assert preds.correct.tolist() == correct
    assert preds.pred.tolist() == [0 if c else -1 for c in correct]
    assert preds.info["n_unextractable"] == extracted.count(None)


def test_the_answer_kind_column_decides_how_answers_are_read() -> None:
    as_text = SUMS.assign(answer_kind="choice")  # the choices alone would say "number"
    preds = predict_generative(_ScriptedLM(SUM_GENERATIONS), as_text, ["p"] * 4, 16)
    assert preds.extracted == ["5 apples", "13", "3 + 4 = 7", "4"]
    assert preds.correct.tolist() == [False, False, False, False]
    inferred = predict_generative(_ScriptedLM(SUM_GENERATIONS), SUMS.drop(columns="answer_kind"), ["p"] * 4, 16)
    assert inferred.correct.tolist() == [True, False, True, False]  # no column: inferred from the choices


def test_an_unknown_extraction_rule_fails_before_generating() -> None:
    lm = _ScriptedLM(SUM_GENERATIONS)
    with pytest.raises(E2HError, match="unknown extraction rule 'paper'"):
        predict_generative(lm, SUMS, ["p"] * 4, 16, extraction="paper")
    assert lm.calls == 0


class _PromptRecorder(_ScriptedLM):
    """A scripted engine that also records the prompts and the generation budget it was given."""

    def generate(self, prompts: list[str], *, max_new_tokens: int, stop: tuple[str, ...]) -> list[str]:
        self.prompts, self.max_new_tokens, self.stop = list(prompts), max_new_tokens, stop
        return super().generate(prompts, max_new_tokens=max_new_tokens, stop=stop)


# The paper's prompt 5305 for "Q: 2 + 3?" (allenai/easy-to-hard-generalization, utils/prompt.py: instruction 5, a
# line break, question template 3, CoT preface "\nA:").
PAPER_5305 = (
    "This worksheet contain math word problems. Here's an example:\nQ: [question text here].\nA: Let's think step "
    "by step.\n1. [step one]\n2. [step two]\n...\nN. [last step]\nTherefore, the answer is [answer here]\n\n"
    "Now you try!\n\nQ: 2 + 3?\nA:"
)


def test_zero_shot_cot_prompts_like_the_paper_and_grades_generations() -> None:
    assert LEARNERS.get("zero-shot-cot") is ZeroShotChainOfThought and not ZeroShotChainOfThought.supervised
    lm = _PromptRecorder(SUM_GENERATIONS)
    learner = ZeroShotChainOfThought(lm).fit(SUMS.iloc[:0])
    preds = learner.predict(SUMS)
    assert lm.prompts[0] == PAPER_5305 and lm.max_new_tokens == 300 and lm.stop == ("\nQ:",)
    assert preds.correct.tolist() == [True, False, True, False] and preds.info["k"] == 0
    assert learner.get_params() == {"instruction": "auto", "max_new_tokens": 300, "extraction": "last"}


def test_zero_shot_cot_instructions_by_answer_kind_name_or_text() -> None:
    yes_no = pd.DataFrame(
        {"id": ["y"], "question": ["Is ice cold?"], "choices": [["yes", "no"]], "label": [0], "answer_kind": "yes-no"}
    )
    mc = _mc_items(1).assign(answer_kind="choice")
    lm = _PromptRecorder([" So the answer is yes."])
    ZeroShotChainOfThought(lm).predict(yes_no)
    assert lm.prompts[0].startswith("This worksheet contain general knowledge problems, which all have yes/no")
    assert lm.prompts[0].endswith("Therefore, the answer is [yes/no]\n\nNow you try!\n\nQ: Is ice cold?\nA:")
    ZeroShotChainOfThought(lm).predict(mc)  # multiple choice: no instruction, the choices listed
    assert lm.prompts[0] == "Q: Which colour is number 0?\nA) red\nB) green\nA:"
    ZeroShotChainOfThought(lm, instruction="Think, then say: the answer is X.").predict(mc)
    assert lm.prompts[0].startswith("Think, then say: the answer is X.\nQ: Which colour")
    ZeroShotChainOfThought(lm, instruction="none").predict(SUMS.iloc[:1])
    assert lm.prompts[0] == "Q: 2 + 3?\nA:"
    with pytest.raises(E2HError, match=r"instruction='mathh' must be one of auto, math.* \(did you mean 'math'\?\)"):
        ZeroShotChainOfThought(lm, instruction="mathh")  # refused when made, before any generation


def test_zero_shot_cot_runs_on_the_tiny_model(tiny_lm) -> None:
    preds = make_learner("zero-shot-cot", tiny_lm, max_new_tokens=3).fit(None).predict(_gsm_items(2))
    assert len(preds.generation) == 2 and preds.info["format"] == "zero-shot-cot"


@pytest.mark.integration
@pytest.mark.parametrize(
    "dataset", ["gsm8k", pytest.param("strategyqa", marks=pytest.mark.shared_data("bigbench-strategyqa-task.json"))]
)
def test_cot_with_smollm2_on_real_items(dataset: str) -> None:
    from e2h.data import load_dataset
    from e2h.models import load_model

    items = load_dataset(dataset)
    lm = load_model("smollm2-135m")
    train, test = items.iloc[:20], items.iloc[20:25]
    preds = ICLChainOfThought(lm, k=2, max_new_tokens=32, seed=0).fit(train).predict(test)
    assert len(preds) == 5 and preds.info["k_used"] == 2
    assert all(g and "\n\n" not in g and "\nQ:" not in g for g in preds.generation)  # stopped at the stop strings
    assert preds.info["n_unextractable"] < 5  # SmolLM2 follows the demos' "So the answer is …" at least once
    assert preds.info["n_unextractable"] == sum(e is None for e in preds.extracted)
    assert 0.0 <= preds.accuracy <= 1.0
