"""The tokenization rule: the whole string tokenized at once, even where merges cross the prefix boundary."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from e2h.models import LanguageModel, ScoreRequest
from e2h.models.tiny import SPECIAL_TOKENS, tiny_llama
from e2h.paths import e2h_home

# merges crossing the prefix/context boundary: "\n\n" is one token alone but two before a word
# (GPT-2's pre-tokenizer), and "wxyz" + "v" becomes one token, changing four tokens of the prefix
MERGES = [("Ċ", "Ċ"), ("z", "v"), ("y", "zv"), ("x", "yzv"), ("w", "xyzv")]
PREFIX = "Q: a\nA: b\n\nQ: c\nA: d\n\n"  # ends with "\n\n", one token alone, two before "Question"
WORD_PREFIX = "Q: a\nA: cwxyz"  # ends inside a word that a context starting with "v" completes
REQUESTS = [
    ScoreRequest("Question: 2+2?\nAnswer:", (" 4", " five"), prefix=PREFIX),
    ScoreRequest("Q: sky?\nA:", (" blue", " green", " grey"), prefix=PREFIX),
    ScoreRequest("", (" 7", " 8"), prefix=PREFIX),  # trailing whitespace moves to the continuation, as in lm-eval
    ScoreRequest("v?\nA:", (" yes", " no"), prefix=WORD_PREFIX),  # merges four tokens back into the prefix
    ScoreRequest("!\nA:", (" yes",), prefix=WORD_PREFIX),
]


def _merging_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE with GPT-2's pre-tokenizer and the :data:`MERGES` above."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *alphabet, *("".join(m) for m in MERGES)])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=MERGES))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


@pytest.fixture(scope="module")
def merging_lm() -> LanguageModel:
    tokenizer = _merging_tokenizer()
    return LanguageModel(
        tiny_llama(seed=5, vocab_size=len(tokenizer)), tokenizer, name="tiny-merging", fingerprint="m",
        device=torch.device("cpu"), dtype=torch.float32, cache=False, batch_tokens=64,
    )  # fmt: skip


def _plain_forward(lm: LanguageModel, request: ScoreRequest) -> np.ndarray:
    """Summed log-probs of each continuation from ``model(tokenizer(prefix + context + continuation))``."""
    out = []
    for continuation in request.continuations:
        text = request.prefix + request.context
        context_ids = lm.bos + lm.tokenizer(text.rstrip(), add_special_tokens=False)["input_ids"]
        ids = lm.bos + lm.tokenizer(text + continuation, add_special_tokens=False)["input_ids"]
        assert ids[: len(context_ids)] == context_ids  # the continuation's tokens are the tail of the whole string
        with torch.no_grad():
            logp = lm.model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)  # (L, V)
        rows = torch.arange(len(context_ids) - 1, len(ids) - 1)
        out.append(float(logp[rows, torch.tensor(ids[len(context_ids) :])].sum()))
    return np.array(out)


def test_the_merges_do_cross_the_boundary(merging_lm):
    tok = merging_lm.tokenize
    assert tok("b\n\n") == [*tok("b"), *tok("\n\n")] and len(tok("\n\n")) == 1
    assert tok("b\n\nQ") == [*tok("b"), *tok("\n"), *tok("\n"), *tok("Q")]  # two tokens before a word
    assert len(tok(" cwxyz")) == 6 and len(tok(" cwxyzv")) == 3  # "wxyzv" is one token
    separate = tok(PREFIX) + tok(REQUESTS[0].context)
    assert separate != tok(PREFIX + REQUESTS[0].context)  # the old rule saw a different sequence


def test_every_path_equals_the_whole_string_forward(merging_lm):
    lm = merging_lm
    requests = REQUESTS
    fast, naive = lm.score(requests), lm.score_naive(requests)
    for request, f, n in zip(requests, fast, naive, strict=True):
        expected = _plain_forward(lm, request)
        np.testing.assert_allclose(f.logprob, expected, atol=1e-4)
        np.testing.assert_allclose(n.logprob, expected, atol=1e-4)
    for got, want in zip(lm.choice_logprobs(requests), naive, strict=True):
        np.testing.assert_allclose(got.detach().numpy(), want.logprob, atol=1e-4)
    assert fast[2].n_tokens.tolist() == [3, 3]  # "\n\n", " ", "7"


def test_the_shared_head_stops_before_the_merged_tokens(merging_lm):
    lm = merging_lm
    encoded = lm.encode(REQUESTS)
    for request, e in zip(REQUESTS, encoded, strict=True):
        assert list(e.head + e.context) == lm.bos + lm.tokenize((request.prefix + request.context).rstrip())
        shared = lm.bos + lm.tokenize(request.prefix)
        assert list(e.head) == shared[: len(e.head)]
    n_prefix, n_word = len(lm.tokenize(PREFIX)), len(lm.tokenize(WORD_PREFIX))
    assert [len(e.head) for e in encoded] == [n_prefix - 2] * 3 + [n_word - 4, n_word - 2]


@pytest.fixture(scope="module")
def smollm2() -> LanguageModel:
    if not (e2h_home() / "models" / "smollm2-135m" / "e2h-model.json").is_file():
        pytest.skip("SmolLM2-135M is not in the e2h cache (load_model('smollm2-135m') fetches it)")
    from e2h.models import load_model

    return load_model("smollm2-135m", cache=False)


def test_smollm2_icl_scores_equal_the_whole_string_forward(smollm2):
    demos = "Question: Which is a planet?\nAnswer: Mars\n\nQuestion: What melts ice?\nAnswer: heat\n\n"
    requests = [
        ScoreRequest("Question: What do plants need?\nAnswer:", (" light", " rocks", " plastic"), prefix=demos),
        ScoreRequest("Question: Which is a gas?\nAnswer:", (" oxygen", " iron"), prefix=demos),
    ]
    assert smollm2.tokenize(demos)[-1] != smollm2.tokenize(demos + "Question")[len(smollm2.tokenize(demos)) - 1]
    fast = smollm2.score(requests)
    for request, scores in zip(requests, fast, strict=True):
        np.testing.assert_allclose(scores.logprob, _plain_forward(smollm2, request), atol=1e-4)
