"""The scoring engine on the tiny random model: fast path == naive path == a hand-written forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import processors

from e2h.errors import E2HError
from e2h.models import LanguageModel, ScoreRequest, load_model
from e2h.models.tiny import byte_tokenizer, tiny_gemma, tiny_llama

QUESTIONS = [
    ScoreRequest("Question: 2+2?\nAnswer:", (" 4", " five", " twenty-two")),
    ScoreRequest("Q: colour of the sky?\nA:", (" blue", " green")),  # ragged choice counts
    ScoreRequest("Which is a mammal?", (" whale", " trout", " eagle", " frog", " newt")),
    ScoreRequest("x", (" y",)),
]
DEMOS = "Question: 1+1?\nAnswer: 2\n\nQuestion: 3+3?\nAnswer: 6\n\n"


def _fresh(**kwargs) -> LanguageModel:
    return load_model("tiny-random", cache=False, **kwargs)


def whole_string_ids(lm: LanguageModel, request: ScoreRequest, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) as lm-eval's ``_encode_pair`` makes them, BOS first if the model has one."""
    context = request.prefix + request.context
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = lm.tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    context_ids = lm.tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
    return lm.bos + context_ids, whole[len(context_ids) :]


def _by_hand(lm: LanguageModel, request: ScoreRequest) -> np.ndarray:
    """Summed log-probs from one plain forward per choice, written independently of the engine."""
    out = []
    for continuation in request.continuations:
        head, cont = whole_string_ids(lm, request, continuation)
        ids = torch.tensor([head + cont])
        with torch.no_grad():
            logp = lm.model(input_ids=ids).logits[0].log_softmax(-1)  # (L, V)
        rows = torch.arange(len(head) - 1, len(head) + len(cont) - 1)
        out.append(float(logp[rows, torch.tensor(cont)].sum()))
    return np.array(out)


def _max_diff(a, b) -> float:
    return max(float(np.abs(x.logprob - y.logprob).max()) for x, y in zip(a, b, strict=True))


def test_fast_equals_naive_and_hand_without_prefix(tiny_lm):
    fast = tiny_lm.score(QUESTIONS, cache=False)
    naive = tiny_lm.score_naive(QUESTIONS)
    assert _max_diff(fast, naive) <= 1e-5
    for request, scores in zip(QUESTIONS, fast, strict=True):
        np.testing.assert_allclose(scores.logprob, _by_hand(tiny_lm, request), atol=1e-5)
        assert scores.logprob.shape == (len(request.continuations),)
        assert np.all(scores.logprob < 0)


def test_counts_follow_the_tokenizer(tiny_lm):
    (scores,) = tiny_lm.score([QUESTIONS[0]], cache=False)
    np.testing.assert_array_equal(scores.n_chars, [2, 5, 11])
    np.testing.assert_array_equal(scores.n_tokens, [2, 5, 11])  # byte tokenizer: one token per byte


def test_fast_equals_naive_with_shared_prefix_and_empty_context(tiny_lm):
    requests = [ScoreRequest(r.context, r.continuations, prefix=DEMOS) for r in QUESTIONS]
    requests.append(ScoreRequest("", (" 7", " 8"), prefix=DEMOS))  # first token scored from the head's logits
    fast = tiny_lm.score(requests, cache=False)
    assert _max_diff(fast, tiny_lm.score_naive(requests)) <= 1e-5
    np.testing.assert_allclose(fast[-1].logprob, _by_hand(tiny_lm, requests[-1]), atol=1e-5)


def test_single_token_choices_after_the_prefix_alone(tiny_lm):
    requests = [ScoreRequest("", ("7", "8"), prefix=DEMOS)]  # every token is scored from the head's logits
    (fast,) = tiny_lm.score(requests, cache=False)
    np.testing.assert_allclose(fast.logprob, _by_hand(tiny_lm, requests[0]), atol=1e-5)


def test_prefix_computed_once_across_batches():
    lm = _fresh(batch_tokens=24)  # forces several packed rows
    requests = [ScoreRequest(r.context, r.continuations, prefix=DEMOS) for r in QUESTIONS * 3]
    fast = lm.score(requests)
    rows = lm.n_forward_calls - 1
    assert rows >= 4  # the budget split the requests over several forwards
    lm.n_forward_calls = 0
    naive = lm.score_naive(requests)
    assert _max_diff(fast, naive) <= 1e-5
    assert lm.n_forward_calls > rows + 1  # naive does not share the prefix
    lm.n_forward_calls = 0
    assert _max_diff(lm.score(requests), fast) <= 1e-6
    assert lm.n_forward_calls == rows  # the prefix KV is reused from memory, not recomputed


def test_mixed_prefixes_are_grouped(tiny_lm):
    requests = [
        ScoreRequest(QUESTIONS[0].context, QUESTIONS[0].continuations, prefix=DEMOS),
        QUESTIONS[1],
        ScoreRequest(QUESTIONS[2].context, QUESTIONS[2].continuations, prefix="Another demo.\n\n"),
        ScoreRequest(QUESTIONS[3].context, QUESTIONS[3].continuations, prefix=DEMOS),
    ]
    fast = tiny_lm.score(requests, cache=False)
    assert _max_diff(fast, tiny_lm.score_naive(requests)) <= 1e-5
    for request, scores in zip(requests, fast, strict=True):
        np.testing.assert_allclose(scores.logprob, _by_hand(tiny_lm, request), atol=1e-5)


def test_bos_tokenizer_follows_the_rule():
    tokenizer = byte_tokenizer()
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", 1)]
    )
    lm = LanguageModel(
        tiny_llama(seed=3), tokenizer, name="tiny-bos", fingerprint="x", device=torch.device("cpu"),
        dtype=torch.float32, cache=False,
    )  # fmt: skip
    assert lm.bos == [1]
    requests = [*QUESTIONS, ScoreRequest("", (" a", " bc"))]  # with BOS even an empty context is scorable
    fast = lm.score(requests)
    assert _max_diff(fast, lm.score_naive(requests)) <= 1e-5
    for request, scores in zip(requests, fast, strict=True):
        np.testing.assert_allclose(scores.logprob, _by_hand(lm, request), atol=1e-5)


def _tiny_gemma(**kwargs) -> LanguageModel:
    """Gemma 3 mixes sliding-window and full layers (window 6 here)."""
    return LanguageModel(
        tiny_gemma(), byte_tokenizer(), name="tiny-gemma", fingerprint="g", device=torch.device("cpu"),
        dtype=torch.float32, cache=False, **kwargs,
    )  # fmt: skip


def test_sliding_window_model_matches_naive():
    """The packed masks must respect the sliding window."""
    lm = _tiny_gemma()
    requests = [ScoreRequest(r.context, r.continuations, prefix=DEMOS) for r in QUESTIONS] + QUESTIONS
    fast = lm.score(requests)
    assert _max_diff(fast, lm.score_naive(requests)) <= 1e-5
    np.testing.assert_allclose(fast[2].logprob, _by_hand(lm, requests[2]), atol=1e-5)


def test_choice_logprobs_match_and_carry_gradients():
    lm = _fresh()
    lm.model.lm_head.weight.requires_grad_(True)  # stands in for a trainable adapter
    requests = [*QUESTIONS[:2], ScoreRequest("Hi", (" there", " you"), prefix=DEMOS)]
    tensors = lm.choice_logprobs(requests)
    assert [t.shape for t in tensors] == [(3,), (2,), (2,)]
    for t, s in zip(tensors, lm.score_naive(requests), strict=True):
        np.testing.assert_allclose(t.detach().numpy(), s.logprob, atol=1e-5)
    torch.stack([t.sum() for t in tensors]).sum().backward()
    assert lm.model.lm_head.weight.grad is not None and lm.model.lm_head.weight.grad.abs().sum() > 0


def _by_hand_with_grad(lm: LanguageModel, request: ScoreRequest) -> torch.Tensor:
    """``(n_choices,)`` summed log-probs WITH gradients, one plain forward per choice (the unpacked reference)."""
    out = []
    for continuation in request.continuations:
        head, cont = whole_string_ids(lm, request, continuation)
        logp = lm.model(input_ids=torch.tensor([head + cont])).logits[0].log_softmax(-1)  # (L, V)
        rows = torch.arange(len(head) - 1, len(head) + len(cont) - 1)
        out.append(logp[rows, torch.tensor(cont)].sum())
    return torch.stack(out)


def _grads(lm: LanguageModel, tensors: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Gradients of a label-style loss over ``tensors``, per trainable weight; zeroed afterwards."""
    loss = sum(-torch.log_softmax(t, -1)[0] + 0.1 * t.sum() for t in tensors)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in lm.model.named_parameters() if p.grad is not None}
    lm.model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("make", [lambda: _fresh(batch_tokens=40), lambda: _tiny_gemma(batch_tokens=40)])
def test_packed_choice_logprobs_equal_per_choice_values_and_gradients(make):
    """Packing shares each context across its choices; values and every weight's gradient are unchanged."""
    lm = make()  # batch_tokens=40 splits the requests over several packed rows
    lm.model.requires_grad_(True)  # load_model freezes everything; here every weight is trainable
    requests = [*QUESTIONS, ScoreRequest("Hi", (" there", " you"), prefix=DEMOS), ScoreRequest("", ("7",), DEMOS)]
    calls = lm.n_forward_calls
    packed = lm.choice_logprobs(requests)
    assert 1 < lm.n_forward_calls - calls < sum(len(r.continuations) for r in requests)
    reference = [_by_hand_with_grad(lm, r) for r in requests]
    assert [t.shape for t in packed] == [(len(r.continuations),) for r in requests]
    for a, b in zip(packed, reference, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    got, want = _grads(lm, packed), _grads(lm, reference)
    assert got.keys() == want.keys() and len(got) == len(list(lm.model.parameters()))
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-4, msg=name)


def test_sequence_loss_is_mean_token_nll(tiny_lm):
    prompts, targets = ["Question: 2+2?\nAnswer:", "Hello"], [" 4", " world!"]
    loss = tiny_lm.sequence_loss(prompts, targets)
    scores = tiny_lm.score_naive([ScoreRequest(p, (t,)) for p, t in zip(prompts, targets, strict=True)])
    expected = -sum(s.logprob.sum() for s in scores) / sum(s.n_tokens.sum() for s in scores)
    assert float(loss) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(E2HError, match="one per prompt"):
        tiny_lm.sequence_loss(prompts, targets[:1])


def test_score_cache_serves_repeats_without_forward(tmp_path, monkeypatch):
    monkeypatch.setenv("E2H_HOME", str(tmp_path))
    lm = load_model("tiny-random")
    first = lm.score(QUESTIONS)
    calls = lm.n_forward_calls
    again = lm.score(QUESTIONS)
    assert lm.n_forward_calls == calls
    assert _max_diff(first, again) == 0.0
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.n_tokens, b.n_tokens)
        np.testing.assert_array_equal(a.n_chars, b.n_chars)
    stored = [p.name for p in (tmp_path / "engine" / "scores").iterdir() if p.suffix == ".sqlite"]
    assert stored == ["tiny-random.sqlite"]
    lm.score(QUESTIONS, cache=False)
    assert lm.n_forward_calls > calls
    lm.model.lm_head.weight.requires_grad_(True)  # trainable weights: cached scores may be stale
    assert not lm.cache_allowed()
    calls = lm.n_forward_calls
    lm.score(QUESTIONS)
    assert lm.n_forward_calls > calls


def test_bad_requests_raise_one_line(tiny_lm):
    with pytest.raises(E2HError, match="empty continuation"):
        tiny_lm.score([ScoreRequest("Q", (" a", ""))], cache=False)
    with pytest.raises(E2HError, match="no continuations"):
        tiny_lm.score([ScoreRequest("Q", ())], cache=False)
    with pytest.raises(E2HError, match="without BOS"):
        tiny_lm.score([ScoreRequest("", (" a",))], cache=False)


def test_too_long_request_raises(monkeypatch):
    lm = _fresh()
    monkeypatch.setattr(lm, "max_length", 40)
    assert lm.count_tokens(DEMOS) == len(DEMOS.encode())
    with pytest.raises(E2HError, match="max_length 40") as info:
        lm.score([ScoreRequest("Q?", (" a",), prefix=DEMOS)])
    assert "\n" not in str(info.value)
