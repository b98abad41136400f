"""Prompt formats: how an item becomes a scoring request or a generation prompt, and how answers are read back.

Every format splits an item into a *context* (scored once per item) and one *continuation* per
choice; ICL demonstrations are the context + gold continuation of training items, separated by
blank lines, and go into the request's shared ``prefix`` (computed once for every test item).

For the item ``question="What melts ice?"``, ``choices=["heat", "cold"]``, ``label=0``:

=========  ===========================================  ====================================
format     context                                      continuations
=========  ===========================================  ====================================
cloze      ``Question: What melts ice?\\nAnswer:``       ``" heat"``, ``" cold"``
listed     ``Question: What melts ice?\\nA) heat\\n``     ``" heat"``, ``" cold"``
           ``B) cold\\nAnswer:``
letters    as ``listed``                                ``" A"``, ``" B"``
qa         ``Q: What melts ice?\\nA:``                   ``" heat"``, ``" cold"``
cot        ``Q: What melts ice?\\nA:``                   ``" {reasoning} So the answer is heat."``, …
=========  ===========================================  ====================================

Sources and deliberate differences:

* ``cloze`` is lm-evaluation-harness's ARC task (``doc_to_text: "Question: {{question}}\\nAnswer:"``,
  choices joined with the default target delimiter ``" "``, few-shot delimiter ``"\\n\\n"``): identical.
* ``listed`` is the paper's ARC/MMLU prompt (allenai/easy-to-hard-generalization, ``utils/prompt.py``,
  ``--specific_prompt 0040``). The paper writes ``"Question: {q} \\nA) …"`` (a space before the first line
  break, and ``" \\nAnswer: {gold}"`` in demonstrations); we drop those stray spaces.
* ``qa`` is the paper's StrategyQA/GSM8k prompt (``0306``): identical.
* ``cot`` is the paper's CoT prompt (``0305``: ``"Q: {q}\\nA: {reasoning} So the answer is {answer}"``); we end
  the answer with a period, so that generation has a natural end and extraction a clear boundary.

Which format a dataset uses by default, how its answers are read (``answer_kind``) and which
extraction rule applies are facts of the dataset (:func:`e2h.data.dataset_facts`); nothing here
depends on a dataset's name. The names of the formats and rules, and the rule that infers an answer kind, live in
:mod:`e2h.answering`; this module implements one format per name of ``PROMPT_FORMATS`` and one extractor per name of
``EXTRACTION_RULES``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from e2h.answering import infer_answer_kind
from e2h.errors import E2HError
from e2h.models.engine import ScoreRequest
from e2h.registry import Registry

Item = Mapping[str, Any]  # a row of the item table (a pandas Series or a dict)
LETTERS = string.ascii_uppercase
DEMO_SEPARATOR = "\n\n"
TRIGGER = "the answer is"


@dataclass(frozen=True)
class PromptFormat:
    """A named prompt format: the item's context, its continuations, and the cue PMI scores after."""

    name: str
    context: Callable[[Item], str]
    continuations: Callable[[Item], tuple[str, ...]]
    answer_cue: str  # the context of the unconditional (PMI) request
    description: str


def _choices(item: Item) -> list[str]:
    return [str(c) for c in item["choices"]]


def _listed_context(item: Item) -> str:
    lines = [f"{LETTERS[i]}) {choice}" for i, choice in enumerate(_choices(item))]
    return "Question: " + str(item["question"]) + "\n" + "\n".join(lines) + "\nAnswer:"


def _texts(item: Item) -> tuple[str, ...]:
    return tuple(f" {choice}" for choice in _choices(item))


def cot_target(item: Item, answer: str | None = None) -> str:
    """The gold chain of thought and answer: ``"{reasoning} So the answer is {answer}."``.

    ``answer`` defaults to the gold choice; without reasoning it is ``"So the answer is {answer}."``.
    Spaces are tidied within each line of the reasoning; its line breaks stay (blank lines, which would end a
    demonstration, are dropped). The default data has its reasoning on one line, as the paper's demos; GSM8k
    ``verbatim`` has one step per line.
    """
    answer = _choices(item)[int(item["label"])] if answer is None else answer
    lines = (" ".join(line.split()) for line in str(item.get("reasoning") or "").split("\n"))
    reasoning = "\n".join(line for line in lines if line)
    return f"{reasoning} So the answer is {answer}.".lstrip()


FORMATS: Registry[PromptFormat] = Registry("prompt format", hint="Pass one of them as --format.")
for _format in (
    PromptFormat(
        "cloze",
        lambda item: f"Question: {item['question']}\nAnswer:",
        _texts,
        "Answer:",
        "lm-evaluation-harness ARC: the question, then each choice's text",
    ),
    PromptFormat(
        "listed",
        _listed_context,
        _texts,
        "Answer:",
        "the paper's ARC/MMLU prompt: the question and lettered choices, then each choice's text",
    ),
    PromptFormat(
        "letters",
        _listed_context,
        lambda item: tuple(f" {LETTERS[i]}" for i in range(len(item["choices"]))),
        "Answer:",
        "the question and lettered choices, then each choice's letter",
    ),
    PromptFormat(
        "qa",
        lambda item: f"Q: {item['question']}\nA:",
        _texts,
        "A:",
        "the paper's StrategyQA/GSM8k prompt: Q:/A: and the answer",
    ),
    PromptFormat(
        "cot",
        lambda item: f"Q: {item['question']}\nA:",
        lambda item: tuple(" " + cot_target(item, choice) for choice in _choices(item)),
        "A:",
        "chain of thought: Q:/A:, the reasoning, then 'So the answer is …'",
    ),
):
    FORMATS.register(_format.name, _format)


def _with_separator(demos: str | None) -> str:
    """Demonstrations as a prefix: empty, or ending with exactly one blank line."""
    if not demos:
        return ""
    return demos.rstrip("\n") + DEMO_SEPARATOR


def build_request(item: Item, fmt: str, demos: str | None = None) -> ScoreRequest:
    """The scoring request of one item; ``demos`` (from :func:`format_demos`) become the shared prefix."""
    template = FORMATS.get(fmt)
    return ScoreRequest(
        context=template.context(item),
        continuations=template.continuations(item),
        prefix=_with_separator(demos),
    )


def uncond_request(item: Item, fmt: str) -> ScoreRequest:
    """The item's continuations after the format's answer cue alone (``Answer:`` or ``A:``), for PMI scores."""
    template = FORMATS.get(fmt)
    return ScoreRequest(context=template.answer_cue, continuations=template.continuations(item))


def format_demos(items: Sequence[Item], fmt: str) -> str:
    """Demonstrations as a prefix: each item's context + gold continuation, blank-line separated and terminated.

    ``"Question: 1+1?\\nAnswer: 2\\n\\nQuestion: 2+2?\\nAnswer: 4\\n\\n"`` for two ``cloze`` demos; ``""`` for none.
    """
    template = FORMATS.get(fmt)
    demos = []
    for item in items:
        if fmt == "cot" and not str(item.get("reasoning") or "").strip():
            raise E2HError(
                f"item {item.get('id', '?')!r} has no reasoning: chain-of-thought demonstrations need a gold "
                "`reasoning` column (gsm8k, strategyqa, or a user file with one); use --learner icl otherwise."
            )
        demos.append(template.context(item) + template.continuations(item)[int(item["label"])])
    return _with_separator(DEMO_SEPARATOR.join(demos))


def cot_prompt(item: Item, demos: str | None = None) -> str:
    """The generation prompt of chain-of-thought ICL: demonstrations, then ``"Q: {question}\\nA:"``."""
    return _with_separator(demos) + FORMATS.get("cot").context(item)


# ---------------------------------------------------------------------------------------------
# Reading answers back from generated text
# ---------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_LETTER = re.compile(r"^\(?([A-Z])(?:\)?[.:,]?$|\)\s|[.:]\s)")  # "B", "(B)", "B.", "B) cold", "B: cold"
_PUNCT = str.maketrans("", "", string.punctuation)
_TRIGGER = re.compile(re.escape(TRIGGER), re.IGNORECASE)


def answer_kind(item: Item) -> str:
    """How an item's generated answer is read: ``"choice"``, ``"number"`` or ``"yes-no"``.

    The item's ``answer_kind`` (a column of every loaded table); for a table without it, inferred
    from the choices (:func:`e2h.answering.infer_answer_kind`).
    """
    kind = item.get("answer_kind")
    if isinstance(kind, str) and kind:
        return kind
    return infer_answer_kind(item["choices"])


def normalize_number(text: str) -> str | None:
    """The last number in ``text`` without commas, ``$`` or a trailing period (``"-$1,250."`` → ``"-1250"``)."""
    cleaned = re.sub(r"(?<=\d),(?=\d)", "", text.replace("$", ""))
    numbers = _NUMBER.findall(cleaned)
    return numbers[-1] if numbers else None


def _after_last_trigger(text: str) -> str | None:
    """The text after the last "the answer is", else the whole text."""
    triggers = list(_TRIGGER.finditer(text))
    return text[triggers[-1].end() :] if triggers else text


def _after_first_trigger(text: str) -> str | None:
    """The text between the first "the answer is" and the next one (or the end); None without one.

    The paper's rule (``generation.split(trigger)[1]``, no trigger = wrong).
    """
    triggers = list(_TRIGGER.finditer(text))
    if not triggers:
        return None
    end = triggers[1].start() if len(triggers) > 1 else len(text)
    return text[triggers[0].end() : end]


EXTRACTORS: Registry[Callable[[str], str | None]] = Registry(
    "extraction rule", hint="'last' reads the last \"the answer is\", 'first' the first (the paper's rule)."
)
EXTRACTORS.register("last", _after_last_trigger)
EXTRACTORS.register("first", _after_first_trigger)


def extract_answer(text: str, kind: str, choices: Sequence[str] | None = None, rule: str = "last") -> str | None:
    """The answer in a generation, or None when there is none.

    ``rule`` (:data:`EXTRACTORS`) picks the part read: ``last`` = after the last "the answer is"
    (any case), else the whole text; ``first`` = after the first one, up to the next, and no trigger
    means no answer. Then by ``kind``: a number → the last number (``"-1250"``); yes-no → ``"yes"`` /
    ``"no"`` (first mentioned); a choice → a letter (``"B"``, ``"(B)"``) or the answer's first line
    without a trailing period.
    """
    segment = EXTRACTORS.get(rule)(text)
    if segment is None:
        return None
    if kind == "number":
        return normalize_number(segment)
    if kind == "yes-no":
        found = _YES_NO.search(segment)
        return found.group(1).lower() if found else None
    if kind != "choice":
        raise E2HError(f"unknown answer kind {kind!r}: use choice, number or yes-no.")
    stripped = segment.strip().lstrip(":").strip()
    letter = _LETTER.match(stripped)
    if letter and (choices is None or LETTERS.index(letter.group(1)) < len(choices)):
        return letter.group(1)
    first_line = stripped.split("\n")[0].strip().rstrip(".").strip()
    return first_line or None


def _plain(text: str) -> str:
    return " ".join(text.lower().translate(_PUNCT).split())


def match_choice(answer: str | None, choices: Sequence[str]) -> int:
    """The index of the choice an extracted answer names, or -1.

    A letter names its choice; otherwise an exact match ignoring case and punctuation wins, then the
    choice mentioned first in the answer (the longest one where several start there; identical
    choices count as no match).
    """
    if not answer:
        return -1
    if len(answer) == 1 and answer in LETTERS[: len(choices)]:
        return LETTERS.index(answer)
    plain = _plain(answer)
    targets = [_plain(str(c)) for c in choices]
    if plain in targets:
        return targets.index(plain)
    found = {i: m.start() for i, t in enumerate(targets) if t and (m := re.search(rf"\b{re.escape(t)}\b", plain))}
    if not found:
        return -1
    first = min(found.values())
    earliest = [i for i, pos in found.items() if pos == first]
    longest = max(len(targets[i]) for i in earliest)
    winners = [i for i in earliest if len(targets[i]) == longest]
    return winners[0] if len(winners) == 1 else -1


def answers_equal(extracted: str | None, gold: str, kind: str) -> bool:
    """Whether an extracted answer equals the gold one (numerically for numbers, else ignoring case/punctuation)."""
    if extracted is None:
        return False
    if kind == "number":
        gold_number = normalize_number(gold)
        return gold_number is not None and abs(float(extracted) - float(gold_number)) < 1e-6
    return _plain(extracted) == _plain(gold)
