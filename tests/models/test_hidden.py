"""Hidden states of the answer-end token: values, layer indexing, and the disk cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e2h.errors import E2HError
from e2h.models import ScoreRequest, load_model

REQUESTS = [
    ScoreRequest("Question: 2+2?\nAnswer:", (" 4", " five", " twenty-two")),
    ScoreRequest("Sky?", (" blue", " green"), prefix="Demo: grass? green\n\n"),
    ScoreRequest("", (" only", " prefix"), prefix="Demo: grass? green\n\n"),
]


def _by_hand(lm, request: ScoreRequest, layers) -> np.ndarray:
    """(n_choices, n_layers, d) from one plain forward per choice with every hidden state returned."""
    out = []
    for continuation in request.continuations:
        ids = lm.bos + lm.tokenize(request.prefix + request.context + continuation)  # no trailing space here
        with torch.no_grad():
            states = lm.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
        out.append(np.stack([states[layer][0, -1].numpy() for layer in layers]))
    return np.stack(out)


def test_default_layers_are_middle_and_last(tiny_lm):
    states = tiny_lm.hidden_states(REQUESTS, cache=False)
    d = tiny_lm.model.config.hidden_size
    assert [s.shape for s in states] == [(3, 2, d), (2, 2, d), (2, 2, d)]
    assert all(s.dtype == np.float32 for s in states)
    for request, got in zip(REQUESTS, states, strict=True):
        np.testing.assert_allclose(got, _by_hand(tiny_lm, request, (1, 2)), atol=1e-5)


def test_layer_zero_is_the_embedding_of_the_last_token(tiny_lm):
    (states,) = tiny_lm.hidden_states(REQUESTS[:1], layers=[0], cache=False)
    embedding = tiny_lm.model.get_input_embeddings().weight
    last_tokens = [tiny_lm.tokenize(c)[-1] for c in REQUESTS[0].continuations]
    np.testing.assert_allclose(states[:, 0], embedding[last_tokens].detach().numpy(), atol=1e-6)


def test_choices_of_one_item_differ(tiny_lm):
    (states,) = tiny_lm.hidden_states(REQUESTS[:1], cache=False)
    assert not np.allclose(states[0], states[1])


def test_cache_hit_does_no_forward(tmp_path, monkeypatch):
    monkeypatch.setenv("E2H_HOME", str(tmp_path))
    lm = load_model("tiny-random")
    first = lm.hidden_states(REQUESTS)
    calls = lm.n_forward_calls
    assert calls > 0
    again = lm.hidden_states(REQUESTS)
    assert lm.n_forward_calls == calls
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    (layer_two,) = lm.hidden_states(REQUESTS[:1], layers=[2])  # cached per layer: a subset of the layers hits
    assert lm.n_forward_calls == calls
    np.testing.assert_array_equal(layer_two[:, 0], first[0][:, 1])
    lm.hidden_states(REQUESTS, layers=[0, 2])  # layer 0 is new: computed
    assert lm.n_forward_calls > calls


def test_layers_out_of_range(tiny_lm):
    with pytest.raises(E2HError, match=r"0\.\.2"):
        tiny_lm.hidden_states(REQUESTS, layers=[3], cache=False)
