"""The prompting learners: zero-shot, in-context learning (ICL), ICL with chain of thought, and zero-shot CoT.

Zero-shot and ICL score every choice of an item with the engine and turn the scores into
probabilities; one scoring pass gives every normalization:

============  ==========================================================  ========================
name          choice score                                                 also known as
============  ==========================================================  ========================
``raw``       sum of the continuation's token log-probs                    the paper; lm-eval ``acc``
``per_token`` that sum / number of continuation tokens                     length-normalized
``per_char``  that sum / characters of the choice (leading space excluded)  lm-eval ``acc_norm``
``uncond``    that sum − the same continuation's log-prob after the cue    PMI, lm-eval ``acc_mutual_info``
============  ==========================================================  ========================

Choice probabilities are the softmax of the scores over the item's real choices. ``uncond`` costs one
more batched pass (each distinct continuation once, after ``Answer:``/``A:`` alone).

Generative items (one choice, e.g. GSM8k) are answered by greedy generation and answer extraction
instead (a short answer for zero-shot/ICL, a chain of thought for :class:`ICLChainOfThought` and
:class:`ZeroShotChainOfThought`, the paper's unsupervised baseline on GSM8k).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from e2h.errors import E2HError
from e2h.learners.base import Learner, Param, Planned, Predictions
from e2h.learners.params import Interval, Options, Text
from e2h.models.engine import ScoreRequest
from e2h.models.templates import (
    EXTRACTORS,
    FORMATS,
    LETTERS,
    TRIGGER,
    answer_kind,
    answers_equal,
    build_request,
    cot_prompt,
    extract_answer,
    format_demos,
    match_choice,
    uncond_request,
)
from e2h.registry import Registry
from e2h.seeding import make_rng

if TYPE_CHECKING:
    from e2h.learners.lm import LM
    from e2h.models.engine import ChoiceScores

NORMALIZATIONS = ("raw", "per_token", "per_char", "uncond")
_NORMALIZATION_NAMES: Registry[str] = Registry("normalization", hint="Pass one of them as --normalization.")
for _name in NORMALIZATIONS:
    _NORMALIZATION_NAMES.register(_name, _name)

#: the values of the shared run options, which every learner taking one declares
FORMATS_ALLOWED = (Options(*FORMATS.names()),)
EXTRACTION_ALLOWED = (Options(*EXTRACTORS.names()),)
SEED_ALLOWED = (Interval(int, 0),)
K_ALLOWED = (Interval(int, 0),)
TOKENS_ALLOWED = (Interval(int, 1),)

FORMAT = Param(
    "listed",
    "prompt format: cloze, listed, letters, qa (see e2h.models.templates)",
    shared=True,
    allowed=FORMATS_ALLOWED,
)
NORMALIZATION = Param(
    "raw",
    "choice-score normalization: raw, per_token, per_char, uncond",
    shared=True,
    allowed=(Options(*NORMALIZATIONS),),
)
EXTRACTION = Param(
    "last",
    "answer extraction rule for generated answers: last or first 'the answer is'",
    shared=True,
    allowed=EXTRACTION_ALLOWED,
)
SEED = Param(0, "seed of the demonstrations' draw", shared=True, allowed=SEED_ALLOWED)

DIRECT_MAX_NEW_TOKENS = 16  # a direct (no chain of thought) answer to a generative item is short
UNCOND_CHUNK = 64  # continuations per unconditional request
STOP = ("\n\n", "\nQ:")
ANSWER_LINE = (TRIGGER,)  # a chain of thought ends with the line that says "the answer is …" (as the paper reads it)


def check_normalization(name: str) -> str:
    """``name`` if it is a known normalization, else an :class:`E2HError` with suggestions."""
    return _NORMALIZATION_NAMES.get(name)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities from scores over one item's choices: (n_choices,) → (n_choices,)."""
    shifted = np.exp(scores - np.max(scores))
    return shifted / shifted.sum()


def choice_chars(continuations: tuple[str, ...]) -> np.ndarray:
    """Characters of each choice as lm-eval counts them (the leading space is the delimiter): (n_choices,)."""
    return np.array([max(1, len(c.lstrip(" "))) for c in continuations], dtype=float)


def normalized_scores(
    scores: ChoiceScores, continuations: tuple[str, ...], normalization: str, uncond: np.ndarray | None = None
) -> np.ndarray:
    """One item's choice scores under ``normalization`` (:data:`NORMALIZATIONS`): (n_choices,)."""
    logprob = np.asarray(scores.logprob, dtype=float)
    if normalization == "raw":
        return logprob
    if normalization == "per_token":
        return logprob / np.maximum(np.asarray(scores.n_tokens, dtype=float), 1.0)
    if normalization == "per_char":
        return logprob / choice_chars(continuations)
    if normalization == "uncond":
        if uncond is None:
            raise ValueError("the uncond normalization needs the unconditional log-probs")
        return logprob - uncond
    raise E2HError(_NORMALIZATION_NAMES.unknown_message(normalization))


def uncond_logprobs(lm: LM, items: pd.DataFrame, fmt: str) -> list[np.ndarray]:
    """Each item's continuations scored after the answer cue alone: (n_choices,) per item.

    Every distinct (cue, continuation) pair is scored once, in requests of up to ``UNCOND_CHUNK`` choices.
    """
    requests = [uncond_request(item, fmt) for _, item in items.iterrows()]
    by_cue: dict[str, dict[str, float]] = {}
    for request in requests:
        by_cue.setdefault(request.context, {}).update(dict.fromkeys(request.continuations, np.nan))
    batch = [
        ScoreRequest(context=cue, continuations=tuple(conts)[start : start + UNCOND_CHUNK])
        for cue, conts in by_cue.items()
        for start in range(0, len(conts), UNCOND_CHUNK)
    ]
    for request, scores in zip(batch, lm.score(batch, desc="unconditional"), strict=True):
        by_cue[request.context].update(zip(request.continuations, scores.logprob.tolist(), strict=True))
    return [np.array([by_cue[r.context][c] for c in r.continuations]) for r in requests]


def score_all(
    lm: LM,
    items: pd.DataFrame,
    fmt: str,
    demos: str = "",
    normalizations: tuple[str, ...] = NORMALIZATIONS,
) -> dict[str, list[np.ndarray]]:
    """Choice probabilities of every item under each normalization, from one scoring pass.

    Returns ``{normalization: [probs (n_choices,) per item]}``; ``demos`` is the shared prefix.
    """
    for name in normalizations:
        check_normalization(name)
    requests = [build_request(item, fmt, demos) for _, item in items.iterrows()]
    scores = lm.score(requests, desc=f"scoring ({fmt})")
    uncond = uncond_logprobs(lm, items, fmt) if "uncond" in normalizations else [None] * len(requests)
    return {
        name: [
            softmax(normalized_scores(s, r.continuations, name, u))
            for s, r, u in zip(scores, requests, uncond, strict=True)
        ]
        for name in normalizations
    }


def predict_generative(
    lm: LM,
    items: pd.DataFrame,
    prompts: list[str],
    max_new_tokens: int,
    stop: tuple[str, ...] = STOP,
    extraction: str = "last",
    line_after: tuple[str, ...] = (),
) -> Predictions:
    """Greedy generation (ending at a ``stop`` string, or at the end of the line of a ``line_after`` phrase),
    answer extraction and grading.

    Each item's answer is read by its ``answer_kind`` under the ``extraction`` rule (see
    :func:`~e2h.models.templates.extract_answer`). Multiple-choice items: the extracted letter or text
    picks a choice (one-hot ``probs``), or none (``pred = -1``, all-zero ``probs``). Generative items:
    ``probs = [1.0]`` and ``pred = 0`` when the extracted answer equals the gold one (numerically for
    numbers), else ``[0.0]`` and ``-1``.
    """
    EXTRACTORS.get(extraction)  # an unknown rule fails before generating
    generations = lm.generate(prompts, max_new_tokens=max_new_tokens, stop=stop, line_after=line_after)
    probs, pred, extracted = [], [], []
    for (_, item), text in zip(items.iterrows(), generations, strict=True):
        choices = [str(c) for c in item["choices"]]
        kind = answer_kind(item)
        answer = extract_answer(text, kind, choices, extraction)
        if len(choices) == 1:
            right = answers_equal(answer, choices[0], kind)
            index = 0 if right else -1
        else:
            index = match_choice(answer, choices)
        one_hot = np.zeros(len(choices))
        if index >= 0:
            one_hot[index] = 1.0
        probs.append(one_hot)
        pred.append(index)
        extracted.append(answer)
    labels = items["label"].to_numpy(dtype=int)
    pred_arr = np.array(pred, dtype=int)
    return Predictions(
        ids=list(items["id"]),
        probs=probs,
        pred=pred_arr,
        correct=pred_arr == labels,
        gold_prob=np.array([p[y] for p, y in zip(probs, labels, strict=True)], dtype=float),
        generation=list(generations),
        extracted=extracted,
        info={"n_unextractable": sum(a is None for a in extracted)},
    )


def _is_generative(items: pd.DataFrame) -> bool:
    """True when every item has one choice, False when none has; mixed tables are refused."""
    single = items["choices"].map(len) == 1
    if single.any() and not single.all():
        raise E2HError(
            f"{int(single.sum())} of {len(items)} items have a single (generative) answer and the others several: "
            "evaluate generative and multiple-choice items separately."
        )
    return bool(single.all()) and len(items) > 0


class _Prompting(Learner):
    """Shared machinery: demonstrations drawn once in ``fit``, trimmed to the model's context."""

    supervised = True
    k: int = 0
    seed: int = 0

    def _draw(self, train: pd.DataFrame) -> pd.DataFrame:
        """``k`` training items, one order, from ``make_rng(seed, "icl")``."""
        if self.k > len(train):
            raise E2HError(
                f"{type(self).__name__}(k={self.k}) needs at least {self.k} training items but got {len(train)}: "
                "lower k or pass more training items."
            )
        order = make_rng(self.seed, "icl").permutation(len(train))[: self.k]
        return train.iloc[order].reset_index(drop=True)

    def _fit_demos(self, train: pd.DataFrame) -> None:
        self.demos_ = self._draw(train)
        self.demo_ids_ = list(self.demos_["id"])

    def _demo_rows(self) -> list[pd.Series]:
        self.check_is_fitted("demos_")
        return [row for _, row in self.demos_.iterrows()]

    def _fitting_demos(self, fmt: str, longest: int, slack: int = 0) -> tuple[str, int]:
        """The demonstrations prefix and how many demos it keeps so that prefix + ``longest`` tokens fit.

        Demos are dropped from the end; one token is left for a BOS token, ``slack`` more for
        tokenization differences at the prefix/context boundary (generation tokenizes them together).
        """
        rows = self._demo_rows()
        for kept in range(len(rows), 0, -1):
            prefix = format_demos(rows[:kept], fmt)
            if self.lm.count_tokens(prefix) + longest + 1 + slack <= self.lm.max_length:
                return prefix, kept
        return "", 0


class _Scoring(_Prompting):
    """Zero-shot and ICL: score the choices, softmax under ``normalization``."""

    format: str = "listed"
    normalization: str = "raw"

    def _longest_request(self, test: pd.DataFrame) -> int:
        """Tokens of the longest test request: context + its longest continuation."""
        longest = 0
        for _, item in test.iterrows():
            request = build_request(item, self.format)
            context = self.lm.count_tokens(request.context)
            longest = max(longest, context + max(self.lm.count_tokens(c) for c in request.continuations))
        return longest

    def predict_all(
        self, test: pd.DataFrame, normalizations: tuple[str, ...] = NORMALIZATIONS
    ) -> dict[str, Predictions]:
        """Predictions under every normalization in ``normalizations``, from one scoring pass."""
        if _is_generative(test):
            return dict.fromkeys(normalizations, self._predict_direct(test))
        prefix, kept = self._fitting_demos(self.format, self._longest_request(test), slack=2)
        probs = score_all(self.lm, test, self.format, prefix, normalizations)
        return {
            name: Predictions.from_probs(test, probs[name], info={**self._info(kept), "normalization": name})
            for name in normalizations
        }

    def _predict_direct(self, test: pd.DataFrame) -> Predictions:
        """Generative items: a short greedy answer after the prompt (up to a line break), then extraction."""
        contexts = [build_request(item, self.format).context for _, item in test.iterrows()]
        longest = max(self.lm.count_tokens(c) for c in contexts)
        prefix, kept = self._fitting_demos(self.format, longest + DIRECT_MAX_NEW_TOKENS, slack=2)
        prompts = [prefix + context for context in contexts]
        preds = predict_generative(
            self.lm, test, prompts, DIRECT_MAX_NEW_TOKENS, stop=("\n",), extraction=self.extraction
        )
        preds.info.update(self._info(kept))
        return preds

    def _info(self, kept: int) -> dict[str, Any]:
        return {"format": self.format, "k": self.k, "k_used": kept, "demo_ids": self.demo_ids_[:kept]}

    def predict(self, test: pd.DataFrame) -> Predictions:
        return self.predict_all(test, (self.normalization,))[self.normalization]

    def planned_requests(self, train: pd.DataFrame, test: pd.DataFrame) -> list[Planned]:
        """The test items' scoring requests after the demonstrations ``fit(train)`` draws (none for zero-shot).

        Multiple choice only; the ``uncond`` pass is not planned.
        """
        if _is_generative(test):
            return []
        self.fit(train)  # draws the demonstrations, exactly as the cell's own fit will
        prefix, _ = self._fitting_demos(self.format, self._longest_request(test), slack=2)
        return [Planned(tuple(build_request(item, self.format, prefix) for _, item in test.iterrows()))]


class ZeroShot(_Scoring):
    """The unsupervised baseline: each choice scored after the prompt alone (k = 0)."""

    name = "zero-shot"
    supervised = False

    params: ClassVar[dict[str, Param]] = {"format": FORMAT, "normalization": NORMALIZATION, "extraction": EXTRACTION}

    def fit(self, train: pd.DataFrame | None = None) -> ZeroShot:
        """Nothing to learn (``predict`` works without it); accepted so every learner is used the same way."""
        return self

    def _demo_rows(self) -> list[pd.Series]:
        return []

    @property
    def demo_ids_(self) -> list[str]:
        return []


class ICL(_Scoring):
    """In-context learning: the same ``k`` demonstrations, in one order, before every test item.

    ``fit`` draws them from the training items with ``make_rng(seed, "icl")``; labels are used as
    given (label noise is applied upstream). ``predict`` passes them as the shared prefix, so the
    engine computes them once; when prefix + the longest test item would not fit the model's
    context, demonstrations are dropped from the end (``Predictions.info["k_used"]``).
    """

    name = "icl"

    params: ClassVar[dict[str, Param]] = {
        "k": Param(10, "in-context demonstrations drawn from the training items", shared=True, allowed=K_ALLOWED),
        "format": FORMAT,
        "normalization": NORMALIZATION,
        "extraction": EXTRACTION,
        "seed": SEED,
    }

    def fit(self, train: pd.DataFrame) -> ICL:
        self._fit_demos(train)
        return self


class ICLChainOfThought(_Prompting):
    """ICL with chain of thought: demos ``Q: …\\nA: {reasoning} So the answer is {answer}.``, greedy generation.

    Generation stops at a blank line, the next ``Q:`` or the end of the line that says "the answer is"; the answer is
    read with
    :func:`~e2h.models.templates.extract_answer` and graded as in :func:`predict_generative`
    (``info["n_unextractable"]`` counts generations without an answer; they are wrong).
    """

    name = "icl-cot"
    generative = True

    params: ClassVar[dict[str, Param]] = {
        "k": Param(10, "chain-of-thought demonstrations drawn from the training items", shared=True, allowed=K_ALLOWED),
        "max_new_tokens": Param(256, "generation budget per test item", allowed=TOKENS_ALLOWED),
        "extraction": EXTRACTION,
        "seed": SEED,
    }

    def fit(self, train: pd.DataFrame) -> ICLChainOfThought:
        missing = train["reasoning"].fillna("").astype(str).str.strip() == ""
        if missing.any():
            raise E2HError(
                f"{int(missing.sum())} of {len(train)} training items have no `reasoning`: ICL+CoT demonstrations need "
                "a gold chain of thought (use gsm8k or strategyqa, drop those items, or use --learner icl)."
            )
        self._fit_demos(train)
        return self

    def predict(self, test: pd.DataFrame) -> Predictions:
        longest = max((self.lm.count_tokens(cot_prompt(item)) for _, item in test.iterrows()), default=0)
        prefix, kept = self._fitting_demos("cot", longest + self.max_new_tokens, slack=2)
        prompts = [cot_prompt(item, prefix) for _, item in test.iterrows()]
        preds = predict_generative(
            self.lm, test, prompts, self.max_new_tokens, extraction=self.extraction, line_after=ANSWER_LINE
        )
        preds.info.update({"format": "cot", "k": self.k, "k_used": kept, "demo_ids": self.demo_ids_[:kept]})
        return preds


#: The paper's zero-shot chain-of-thought instructions (allenai/easy-to-hard-generalization ``utils/prompt.py``,
#: instructions 5 and 6; GSM8k's unsupervised baseline is prompt ``5305``: instruction 5, then ``Q: {question}``
#: and ``\nA:``). The paper's wording, "This worksheet contain", is kept as written.
_WORKSHEET = (
    "This worksheet contain {kind}. Here's an example:\nQ: [question text here].\nA: Let's think step by step.\n"
    "1. [step one]\n2. [step two]\n...\nN. [last step]\nTherefore, the answer is {answer}\n\nNow you try!\n"
)
INSTRUCTIONS = {
    "math": _WORKSHEET.format(kind="math word problems", answer="[answer here]"),
    "yes-no": _WORKSHEET.format(kind="general knowledge problems, which all have yes/no answers", answer="[yes/no]"),
    "none": "",
}
_AUTO_INSTRUCTION = {"number": "math", "yes-no": "yes-no", "choice": "none"}


def zero_shot_cot_prompt(item: pd.Series, instruction: str = "") -> str:
    """``{instruction}\\nQ: {question}\\nA:``, with lettered choices after the question for multiple choice.

    The paper's layout (its ``format_prompt``): the instruction, a line break, the question; choices as
    ``\\nA) …\\nB) …`` (its answer template 4) for items answered by a choice. The paper's worksheet
    instructions end with a line break of their own, so a blank line separates them from the question.
    """
    choices = [str(c) for c in item["choices"]]
    listed = "".join(f"\n{LETTERS[i]}) {c}" for i, c in enumerate(choices)) if answer_kind(item) == "choice" else ""
    head = f"{instruction}\n" if instruction else ""
    return f"{head}Q: {item['question']}{listed}\nA:"


#: Zero-shot CoT stops where the model starts a new question (or its answer line ends, :data:`ANSWER_LINE`), not at
#: blank lines: the worksheet itself shows them, and a small model often opens with one (the paper stops at the token
#: budget alone, then reads the line after the first "the answer is").
ZERO_SHOT_COT_STOP = ("\nQ:",)


class ZeroShotChainOfThought(Learner):
    """Zero-shot chain of thought: an instruction, the question, greedy reasoning, then answer extraction.

    The paper's unsupervised baseline on GSM8k (prompt ``5305``: its math "worksheet" instruction, which shows the
    ``Let's think step by step`` / ``Therefore, the answer is`` layout, then ``Q: {question}\\nA:``; 300 new
    tokens). ``instruction="auto"`` takes that instruction for numeric answers, its yes/no twin for yes-no items and
    none for multiple choice; ``math``, ``yes-no``, ``none`` name one; any text with a space is used as written.
    Generation stops at the next ``Q:``, the end of the line that says "the answer is" (or the budget); answers are
    read and graded as in :func:`predict_generative`.
    """

    name = "zero-shot-cot"
    supervised = False
    generative = True

    params: ClassVar[dict[str, Param]] = {
        "instruction": Param(
            "auto",
            "auto (by answer kind), math, yes-no, none, or the text itself",
            allowed=(Options("auto", *INSTRUCTIONS), Text(r"\S\s+\S", "an instruction's own text (words with spaces)")),
        ),
        "max_new_tokens": Param(300, "generation budget per test item (the paper's 300)", allowed=TOKENS_ALLOWED),
        "extraction": EXTRACTION,
    }

    def _instruction(self, item: pd.Series) -> str:
        """The instruction text for ``item``: a named one (``auto``: by its answer kind), else the text as given."""
        name = _AUTO_INSTRUCTION[answer_kind(item)] if self.instruction == "auto" else self.instruction
        return INSTRUCTIONS.get(name, name)

    def fit(self, train: pd.DataFrame | None = None) -> ZeroShotChainOfThought:
        """Nothing to learn (the instruction was checked when the learner was made)."""
        return self

    def predict(self, test: pd.DataFrame) -> Predictions:
        prompts = [zero_shot_cot_prompt(item, self._instruction(item)) for _, item in test.iterrows()]
        preds = predict_generative(
            self.lm, test, prompts, self.max_new_tokens, stop=ZERO_SHOT_COT_STOP, extraction=self.extraction,
            line_after=ANSWER_LINE,
        )  # fmt: skip
        preds.info.update({"format": "zero-shot-cot", "k": 0, "instruction": self.instruction})
        return preds
