"""The scoring engine: log-likelihoods of continuations, with shared prefixes computed once.

Tokenization rule (every path here: ``score``, ``score_naive``, ``choice_logprobs``,
``hidden_states``, ``sequence_loss``, ``generate``): the text is tokenized whole, as in
lm-evaluation-harness (``TemplateLM._encode_pair``) and in a plain ``model(tokenizer(text))``::

    context      = prefix + context, its trailing whitespace moved to the front of each continuation
    ids          = [BOS, if the tokenizer adds one] + tok(context)
    continuation = tok(context + continuation)[len(tok(context)):]

without special tokens. Tokens can merge across the prefix/context boundary (a prefix ending in
``"\n\n"`` alone is one token in byte-level BPE, two before ``"Question"``), so the *head* whose
KV is cached is the longest run of leading tokens that ``BOS + tok(prefix)`` shares with ``ids``,
minus a margin of two tokens (the same for nearly every request of a prefix); the rest of ``ids``
is computed with each request.

Fast path (:meth:`LanguageModel.score`):

1. the head is run once per distinct head; its KV cache (per layer ``(1, n_kv, P, hd)``) is
   kept in a small LRU and never mutated: each forward gets a fresh cache built from it;
2. requests that share a head are *tree-packed* (:mod:`e2h.models.packing`) into rows of at
   most ``batch_tokens`` new tokens under a 4D mask, so each context is computed once for all
   its choices and each choice once;
3. only the positions that predict continuation tokens are projected onto the vocabulary.

:meth:`LanguageModel.choice_logprobs` (with gradients) packs rows the same way, but with the head
moved into each request's context: no KV is computed outside the autograd graph, and the
context (head included) is still computed once for all of a request's choices.

The naive path runs one full sequence per (request, choice), sorted by length and batched
under the same token budget, so the two differ only in prefix sharing.

Caches: results are stored per request (:mod:`e2h.models.cache`), keyed by the model, its dtype
and the request's text, so any subset, superset or reordering of earlier requests computes only
what is missing. Every pass stores the scores it computed; :meth:`LanguageModel.prefetch` fills
scores and hidden states with one forward per packed row.

Module layout (imports point one way): this engine uses :mod:`~e2h.models.packing` (rows and
masks), :mod:`~e2h.models.hidden` (layer indices), :mod:`~e2h.models.generation` (greedy
decoding) and :mod:`~e2h.models.cache` (result stores); none of them imports the engine.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from e2h.errors import E2HError
from e2h.io import content_hash
from e2h.models.cache import ResultCache
from e2h.models.generation import (
    ATTENTION,
    Decoding,
    eos_ids,
    greedy,
    greedy_shared,
    register_attention,
    stop_flags,
)
from e2h.models.hidden import check_layers, pick
from e2h.models.packing import Encoded, PackedRow, common_prefix, pack, split_head, tree_mask
from e2h.progress import bar

ENGINE_VERSION = 2  # bump when a change alters cached scores or hidden states
_HEAD_LRU = 4  # distinct prefixes whose KV cache is kept in memory
_STORE_EVERY = 256  # finished requests a pass stores at a time (an interrupted pass keeps them)
_HEAD_MARGIN = 2  # tokens at the end of a prefix that may merge differently with the text after it
_GENERATE_BATCH = 32  # prompts decoded together at most
_GENERATE_KV_BYTES = 2 * 1024**3  # KV cache of one generation batch at most


@dataclass(frozen=True)
class ScoreRequest:
    """One item to score: ``prefix + context + continuation`` for each continuation."""

    context: str  # item part, e.g. "Question: ...\nAnswer:"
    continuations: tuple[str, ...]  # e.g. (" Paris", " London")
    prefix: str = ""  # shared by many requests (ICL demos + "\n\n"); its KV is computed once


@dataclass
class ChoiceScores:
    """Scores of one request's continuations."""

    logprob: np.ndarray  # (n_choices,) summed log-prob of the continuation tokens
    n_tokens: np.ndarray  # (n_choices,)
    n_chars: np.ndarray  # (n_choices,)


class LanguageModel:
    """A causal LM behind one engine: scores, gradients, hidden states and generation.

    Build it with :func:`e2h.models.load_model`. ``fingerprint`` identifies the weights
    (and dtype/quantization) for disk caches; whoever changes the weights in place must
    change it too (caches are skipped automatically while adapters are attached).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        fingerprint: str,
        device: torch.device,
        dtype: torch.dtype,
        quantization: str = "none",
        batch_tokens: int | None = None,
        cache: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.fingerprint = fingerprint
        self.device = device
        self.dtype = dtype
        self.quantization = quantization
        self.batch_tokens = batch_tokens or (8192 if device.type == "cuda" else 512)  # CPU: 512 measured best
        self.cache = cache
        self.max_length = _max_length(model, tokenizer)
        self.n_forward_calls = 0
        self.n_requests_computed = 0  # requests scored or encoded by a forward pass (not served from a cache)
        self.forward_tokens = 0  # input positions run through the model (padding included)
        self.forward_seconds = 0.0  # wall time inside model(...) calls
        self.n_generated_tokens = 0  # tokens decoded by the fast generation path (EOS included)
        self.bos = _bos_ids(tokenizer)
        self.pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
        self._heads: OrderedDict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        self._vocab_text: list[str] | None = None  # each token decoded alone (generation's stop checks)
        self._flags: dict[tuple[tuple[str, ...], tuple[str, ...]], torch.Tensor] = {}

    def __repr__(self) -> str:
        return (
            f"LanguageModel({self.name!r}, device={self.device}, dtype={self.dtype}, "
            f"quantization={self.quantization!r}, batch_tokens={self.batch_tokens})"
        )

    # ------------------------------------------------------------------ tokenization

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def count_tokens(self, text: str) -> int:
        """The number of tokens ``text`` adds to a prompt (no special tokens)."""
        return len(self.tokenize(text))

    def tokenize_many(self, texts: Sequence[str]) -> list[list[int]]:
        """:meth:`tokenize` of many texts in one (parallel) tokenizer call."""
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
        return [list(x) if text else [] for x, text in zip(ids, texts, strict=True)]

    def encode(self, requests: Sequence[ScoreRequest]) -> list[Encoded]:
        """Apply the tokenization rule (module docstring); raise if a request cannot be scored or is too long."""
        requests = list(requests)
        pairs = [_split_pair(r) for r in requests]  # (context text, continuation texts) per request
        prefixes = list(dict.fromkeys(r.prefix for r in requests))
        texts = [*prefixes, *(t for context, conts in pairs for t in (context, *(context + c for c in conts)))]
        tokens = iter(self.tokenize_many(texts))
        shared = {prefix: self.bos + next(tokens) for prefix in prefixes}  # BOS + tok(prefix)
        encoded = []
        for request, (_, conts) in zip(requests, pairs, strict=True):
            context = next(tokens)
            choices = [next(tokens)[len(context) :] for _ in conts]  # tok(context + c) minus tok(context)
            _check_request(request, choices)
            ids = self.bos + context
            if not ids:
                raise E2HError("a request with no prefix and no context cannot be scored by a model without BOS.")
            longest = len(ids) + max(len(c) for c in choices)
            if longest > self.max_length:
                raise E2HError(
                    f"request of {longest} tokens exceeds {self.name}'s max_length {self.max_length}: "
                    "use fewer demonstrations or shorter text (count with lm.count_tokens)."
                )
            h = split_head(ids, shared[request.prefix], _HEAD_MARGIN, keep=len(self.bos))
            encoded.append(Encoded(tuple(ids[:h]), tuple(ids[h:]), tuple(tuple(c) for c in choices)))
        return encoded

    # ------------------------------------------------------------------ scoring

    def score(
        self, requests: Sequence[ScoreRequest], *, desc: str | None = None, cache: bool | None = None
    ) -> list[ChoiceScores]:
        """Summed log-probs of every continuation (fast path, no gradients); cached per request."""
        requests = list(requests)
        keys, scores, _ = self._results(requests, scores=True, layers=(), cache=cache, desc=desc)
        return [
            ChoiceScores(
                logprob=scores[k][0].copy(),
                n_tokens=scores[k][1].astype(np.int64),
                n_chars=np.array([len(c) for c in r.continuations], dtype=np.int64),
            )
            for k, r in zip(keys, requests, strict=True)
        ]

    def score_naive(self, requests: Sequence[ScoreRequest]) -> list[ChoiceScores]:
        """Reference scores: one full forward per prompt+continuation (batched, sorted by length)."""
        requests = list(requests)
        encoded = self.encode(requests)
        with self._inference():
            flat = self._full_logprobs(encoded, grad=False)
        out, i = [], 0
        for e, r in zip(encoded, requests, strict=True):
            out.append(
                ChoiceScores(
                    logprob=np.array([float(t.sum()) for t in flat[i : i + len(e.choices)]]),
                    n_tokens=np.array([len(c) for c in e.choices], dtype=np.int64),
                    n_chars=np.array([len(c) for c in r.continuations], dtype=np.int64),
                )
            )
            i += len(e.choices)
        return out

    def choice_logprobs(self, requests: Sequence[ScoreRequest]) -> list[torch.Tensor]:
        """Summed log-prob of each continuation WITH gradients: one ``(n_choices,)`` tensor per request.

        Tree-packed like :meth:`score`, with each head packed into its request's context so that
        every token is on the autograd graph; equal to one full sequence per choice.
        """
        encoded = [Encoded((), (*e.head, *e.context), e.choices) for e in self.encode(list(requests))]
        sizes = [len(e.choices) for e in encoded]
        first = np.cumsum([0, *sizes])  # request r's choices are flat[first[r] : first[r] + sizes[r]]
        flat = torch.zeros(sum(sizes), device=self.device)  # (total choices,)
        with torch.enable_grad():
            for _, rows in pack(encoded, self.batch_tokens):  # one group: every head is now empty
                for row in rows:
                    which = torch.tensor([int(first[t.request]) + t.choice for t in row.plan], device=self.device)
                    flat = flat.index_add(0, which, self._row_logprobs(row, None)[0])  # out of place: autograd-safe
        return list(flat.split(sizes))

    def sequence_loss(self, prompts: Sequence[str], targets: Sequence[str]) -> torch.Tensor:
        """Mean negative log-likelihood per target token of ``targets`` given ``prompts``, with gradients."""
        if len(prompts) != len(targets):
            raise E2HError(f"sequence_loss got {len(prompts)} prompts and {len(targets)} targets: pass one per prompt.")
        encoded = self.encode([ScoreRequest(p, (t,)) for p, t in zip(prompts, targets, strict=True)])
        token_logprobs = torch.cat(self._full_logprobs(encoded, grad=True))  # (total target tokens,)
        return -token_logprobs.mean()

    def hidden_states(
        self, requests: Sequence[ScoreRequest], layers: Sequence[int] | None = None, *, cache: bool | None = None
    ) -> list[np.ndarray]:
        """Hidden states ``(n_choices, n_layers, d)`` float32 of each request's last continuation tokens.

        Cached per request and layer, with the scores of the same pass. See :mod:`e2h.models.hidden`
        for what a layer index means; default: middle and last layer.
        """
        requests = list(requests)
        layers = check_layers(self.model, layers, self.name)
        keys, _, states = self._results(
            requests, scores=False, layers=layers, cache=cache, desc=f"hidden states {self.name}"
        )
        return [np.stack([states[k, layer] for layer in layers], axis=1) for k in keys]

    def prefetch(
        self, requests: Sequence[ScoreRequest], *, scores: bool = True, layers: Sequence[int] | None = ()
    ) -> int:
        """Fill the caches of :meth:`score` and :meth:`hidden_states` for ``requests`` in ONE pass.

        Each packed row runs one forward that yields both the continuations' log-probs and the
        hidden states of ``layers`` (``()``: none; ``None``: the default layers), so a later
        ``score`` and ``hidden_states`` of these requests run no forward. Returns how many
        requests were computed (0 when all were cached, or when caching is off: nothing to fill).
        """
        if self._store("scores", None) is None:
            return 0
        chosen = () if layers is not None and len(layers) == 0 else check_layers(self.model, layers, self.name)
        if not scores and not chosen:
            return 0
        before = self.n_requests_computed
        self._results(list(requests), scores=scores, layers=chosen, cache=None, desc=f"prefetch {self.name}")
        return self.n_requests_computed - before

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 256,
        stop: Sequence[str] = ("\n\n",),
        line_after: Sequence[str] = (),
        prefix: str = "",
        cache: bool | None = None,
    ) -> list[str]:
        """Greedy continuations of ``prefix + prompt`` for each prompt: the new text only, cut before the first
        stop string, before the line break that ends a ``line_after`` phrase's line (any case), or at EOS.
        Cached per prompt and generation settings, so a prompt is generated once per model and settings.

        Each text is tokenized whole (after BOS if the tokenizer adds one). The leading tokens all
        prompts share (e.g. the demonstrations, given as ``prefix`` or already in the prompts) are
        computed once and their KV cache read by every item; items are decoded with continuous batching
        (:func:`~e2h.models.generation.greedy_shared`), equal to :meth:`generate_naive`.
        """
        if max_new_tokens < 1:
            raise E2HError(f"max_new_tokens={max_new_tokens}: ask for at least 1 new token.")
        texts = [prefix + p for p in prompts]
        settings = [max_new_tokens, list(stop), *([list(line_after)] if line_after else [])]
        base = content_hash(ENGINE_VERSION, self.fingerprint, str(self.dtype), *settings, length=32)
        keys = [content_hash(base, text, length=32) for text in texts]
        unique = dict(zip(keys, texts, strict=True))
        store = self._store("generations", cache)
        found = {k: v.decode() for k, v in store.get(list(unique)).items()} if store is not None else {}
        todo = [k for k in unique if k not in found]
        unsaved: dict[str, bytes] = {}

        def done(i: int, text: str) -> None:  # stored as they finish: an interrupted call keeps what it made
            found[todo[i]] = text
            unsaved[todo[i]] = text.encode()
            if store is not None and (len(unsaved) >= _GENERATE_BATCH or len(found) == len(unique)):
                store.put(unsaved)
                unsaved.clear()

        if todo:
            self._generate([unique[k] for k in todo], self._decoding(max_new_tokens, stop, line_after), done)
        return [found[k] for k in keys]

    def generate_naive(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 256,
        stop: Sequence[str] = ("\n\n",),
        line_after: Sequence[str] = (),
    ) -> list[str]:
        """Reference generations: one prompt at a time through the model's own masks, nothing shared or cached."""
        encoded = self._generation_ids(list(prompts), max_new_tokens)
        decoding = self._decoding(max_new_tokens, stop, line_after)
        with self._inference():
            return [
                greedy(self.forward, [ids], decoding, self._decode, config=self.model.config, device=self.device)[0]
                for ids in encoded
            ]

    def _decoding(self, max_new_tokens: int, stop: Sequence[str], line_after: Sequence[str]) -> Decoding:
        eos = eos_ids(self.model, self.tokenizer)
        return Decoding(max_new_tokens, tuple(stop), eos, self.pad_id, tuple(line_after))

    def _generation_ids(self, texts: list[str], max_new_tokens: int) -> list[list[int]]:
        """``BOS + tok(text)`` of each text; raise if one is empty or too long to generate from."""
        encoded = [self.bos + ids for ids in self.tokenize_many(texts)]
        for ids in encoded:
            if not ids:
                raise E2HError("cannot generate from an empty prompt with a model without BOS: give some prompt text.")
            if len(ids) + max_new_tokens > self.max_length:
                raise E2HError(
                    f"prompt of {len(ids)} tokens + max_new_tokens={max_new_tokens} exceeds {self.name}'s max_length "
                    f"{self.max_length}: shorten the prompt (fewer demonstrations) or lower max_new_tokens."
                )
        return encoded

    def _generate(
        self, texts: list[str], decoding: Decoding, on_done: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """The fast path: the prompts' common leading tokens computed once, items decoded with continuous batching
        (``on_done(i, text)`` as text ``i`` is finished)."""
        encoded = self._generation_ids(texts, decoding.max_new_tokens)
        shared = min(len(ids) for ids in encoded) - 1  # every prompt keeps at least one token of its own
        for ids in encoded[1:]:
            shared = common_prefix(ids[:shared], encoded[0][:shared])
        head = tuple(encoded[0][:shared])
        suffixes = [ids[shared:] for ids in encoded]
        own = max(len(s) for s in suffixes) + decoding.max_new_tokens  # own cache columns per slot
        slots = max(1, min(_GENERATE_BATCH, _GENERATE_KV_BYTES // (own * self._kv_bytes_per_token())))
        with self._inference(), bar(f"generate {self.name}", total=len(encoded), unit="prompt") as progress_bar:

            def finished(i: int, text: str, n_tokens: int) -> None:
                progress_bar.update(1)
                self.n_generated_tokens += n_tokens
                if on_done is not None:
                    on_done(i, text)

            past = self._head_cache(head)
            with self._attention(ATTENTION):
                out = greedy_shared(
                    self.forward, past, suffixes, decoding, self._stop_flags(decoding), self._decode,
                    config=self.model.config, device=self.device, dtype=self.dtype, slots=slots, on_done=finished,
                )  # fmt: skip
        self.n_requests_computed += len(texts)
        return out

    def _stop_flags(self, decoding: Decoding) -> torch.Tensor:
        """The vocabulary's tokens that may end a generation under ``decoding`` (computed once per rule)."""
        rule = (decoding.stop, decoding.line_after)
        if rule not in self._flags:
            if self._vocab_text is None:
                self._vocab_text = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            size = int(self.model.get_output_embeddings().weight.shape[0])
            self._flags[rule] = stop_flags(self._vocab_text, size, decoding, self.device)
        return self._flags[rule]

    @contextlib.contextmanager
    def _attention(self, name: str) -> Iterator[None]:
        """Run the model with the attention implementation ``name`` (the previous one is restored)."""
        register_attention()
        config = self.model.config
        previous = config._attn_implementation
        config._attn_implementation = name
        try:
            yield
        finally:
            config._attn_implementation = previous

    def _kv_bytes_per_token(self) -> int:
        """Bytes of KV cache one token takes over all layers."""
        config = self.model.config.get_text_config()
        n_kv = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return 2 * config.num_hidden_layers * n_kv * head_dim * torch.finfo(self.dtype).bits // 8

    # ------------------------------------------------------------------ fast path internals

    def _results(
        self,
        requests: list[ScoreRequest],
        *,
        scores: bool,
        layers: tuple[int, ...],
        cache: bool | None,
        desc: str | None,
    ) -> tuple[list[str], dict[str, np.ndarray], dict[tuple[str, int], np.ndarray]]:
        """Each request's key, and the scores ``{key: (2, n_choices)}`` (log-probs; token counts) and
        states ``{(key, layer): (n_choices, d)}`` asked for: from the caches, the rest computed in one pass.

        Every pass stores its scores, whichever was asked for: they cost one projection per
        continuation token.
        """
        keys = self._request_keys(requests)
        unique = dict(zip(keys, requests, strict=True))
        score_store = self._store("scores", cache)
        hidden_store = self._store("hidden", cache) if layers else None
        got_scores: dict[str, np.ndarray] = {}
        got_states: dict[tuple[str, int], np.ndarray] = {}
        if scores and score_store is not None:
            for k, value in score_store.get(list(unique)).items():
                got_scores[k] = np.frombuffer(value, dtype=np.float64).reshape(2, -1)
        if hidden_store is not None:
            wanted = {f"{k}@{layer}": (k, layer) for k in unique for layer in layers}
            for name, value in hidden_store.get(list(wanted)).items():
                k, layer = wanted[name]
                got_states[k, layer] = np.frombuffer(value, dtype=np.float32).reshape(len(unique[k].continuations), -1)
        todo = [
            k
            for k in unique
            if (scores and k not in got_scores) or any((k, layer) not in got_states for layer in layers)
        ]
        if not todo:
            return keys, got_scores, got_states

        def finished(done: list[int], logprobs: list, n_tokens: list, states: list) -> None:
            """Keep and store the results of the requests ``todo[i]`` for ``i`` in ``done``."""
            new_scores = {todo[i]: np.stack([logprobs[i], n_tokens[i]]) for i in done}
            new_states = {(todo[i], lay): states[i][:, j] for i in done for j, lay in enumerate(layers)}
            got_scores.update(new_scores)
            got_states.update(new_states)
            if score_store is not None:
                score_store.put({k: v.tobytes() for k, v in new_scores.items()})
            if hidden_store is not None:
                hidden_store.put({f"{k}@{at}": np.ascontiguousarray(v).tobytes() for (k, at), v in new_states.items()})

        self._run([unique[k] for k in todo], layers, desc, finished)
        return keys, got_scores, got_states

    def _run(
        self,
        requests: list[ScoreRequest],
        layers: tuple[int, ...],
        desc: str | None,
        finished: Callable[[list[int], list[np.ndarray], list[np.ndarray], list[np.ndarray]], None],
    ) -> None:
        """One pass over ``requests``, computing each one's log-probs ``(n_choices,)``, token counts
        ``(n_choices,)`` and states ``(n_choices, n_layers, d)`` (``n_layers = 0`` without ``layers``).

        ``finished(done, logprobs, n_tokens, states)`` receives the indices of finished requests (a request lies
        in one packed row) every :data:`_STORE_EVERY` of them, at the end and when the pass is interrupted, with the
        three per-request lists: an interrupted pass keeps every request it finished.
        """
        encoded = self.encode(requests)
        d = int(self.model.config.get_text_config().hidden_size)
        logprobs = [np.zeros(len(e.choices)) for e in encoded]
        n_tokens = [np.array([len(c) for c in e.choices], dtype=np.float64) for e in encoded]
        states = [np.zeros((len(e.choices), len(layers), d), dtype=np.float32) for e in encoded]
        groups = pack(encoded, self.batch_tokens)
        n_rows = sum(len(rows) for _, rows in groups)
        done: list[int] = []
        try:
            with self._inference(), bar(desc or f"score {self.name}", total=n_rows, unit="row") as progress_bar:
                for head, rows in groups:
                    past = self._head_cache(head)
                    for row in rows:
                        token_lp, out = self._row_logprobs(row, past, layers)
                        for t, v in zip(row.plan, token_lp.tolist(), strict=True):
                            logprobs[t.request][t.choice] += v
                        if layers:
                            picked = pick(out.hidden_states, [end.position for end in row.ends], layers)  # (n, L, d)
                            for end, state in zip(row.ends, picked, strict=True):
                                states[end.request][end.choice] = state
                        done += dict.fromkeys(row.request)
                        self.n_requests_computed += len(dict.fromkeys(row.request))
                        if len(done) >= _STORE_EVERY:
                            finished(done, logprobs, n_tokens, states)
                            done = []
                        progress_bar.update(1)
        finally:  # at the end, and when interrupted: the rows finished since the last store are kept too
            finished(done, logprobs, n_tokens, states)

    def _request_keys(self, requests: Sequence[ScoreRequest]) -> list[str]:
        """A content hash per request: engine version, model, dtype, prefix, context, continuations."""
        base = (ENGINE_VERSION, self.fingerprint, str(self.dtype))
        prefixes: dict[str, str] = {}
        keys = []
        for r in requests:
            if r.prefix not in prefixes:
                prefixes[r.prefix] = content_hash(*base, r.prefix, length=32)
            keys.append(content_hash(prefixes[r.prefix], r.context, list(r.continuations), length=32))
        return keys

    def _store(self, kind: str, cache: bool | None) -> ResultCache | None:
        """The result cache of ``kind`` for this model, or ``None`` when caching is off or not valid."""
        use = self.cache if cache is None else cache
        return ResultCache(kind, _safe(self.name)) if use and self.cache_allowed() else None

    def _head_cache(self, head: tuple[int, ...]) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """KV cache after the head (per layer ``(1, n_kv, P, hd)``); computed once per head (LRU)."""
        if not head:
            return None
        keep = self.cache_allowed()  # with trainable weights a remembered KV may be stale
        if keep and head in self._heads:
            self._heads.move_to_end(head)
            return self._heads[head]
        from transformers import DynamicCache

        ids = torch.tensor([head], device=self.device)  # (1, P)
        out = self.forward(input_ids=ids, cache=DynamicCache(), use_cache=True, logits_to_keep=1)
        past = [(layer.keys, layer.values) for layer in out.cache.layers]  # each (1, n_kv, P, hd)
        if keep:
            self._heads[head] = past
            while len(self._heads) > _HEAD_LRU:
                self._heads.popitem(last=False)
        return past

    def _tree_forward(self, row: PackedRow, past: Any, **kwargs: Any) -> Any:
        """One forward over a packed row (see :mod:`e2h.models.packing`)."""
        from transformers import DynamicCache

        config = self.model.config
        mask = tree_mask(
            row, dtype=self.dtype, device=self.device, sliding_window=getattr(config, "sliding_window", None),
            layer_types=getattr(config, "layer_types", None) or (),
        )  # fmt: skip
        cache = DynamicCache(ddp_cache_data=past) if past is not None else None  # fresh: the head's is never mutated
        return self.forward(
            input_ids=torch.tensor([row.ids], device=self.device),  # (1, q)
            position_ids=torch.tensor([row.positions], device=self.device),  # (1, q)
            attention_mask=mask,
            cache=cache,
            use_cache=cache is not None,
            **kwargs,
        )

    def _row_logprobs(self, row: PackedRow, past: Any, layers: Sequence[int] = ()) -> tuple[torch.Tensor, Any]:
        """Log-prob ``(n_plan,)`` of every continuation token of one packed row (``row.plan`` says whose),
        and the forward's output (with the hidden states of ``layers``).

        Gradients flow when autograd is on and ``past`` is ``None``.
        """
        keep = sorted({t.source for t in row.plan})
        extra = {"output_hidden_states": list(layers)} if layers else {}
        out = self._tree_forward(row, past, logits_to_keep=torch.tensor(keep, device=self.device), **extra)
        logp = out.logits[0].float().log_softmax(-1)  # (n_keep, V)
        row_of = {p: i for i, p in enumerate(keep)}
        where = torch.tensor([row_of[t.source] for t in row.plan], device=self.device)
        targets = torch.tensor([t.token for t in row.plan], device=self.device)
        return logp[where, targets], out  # (n_plan,)

    # ------------------------------------------------------------------ full-sequence path

    def _full_logprobs(self, encoded: list[Encoded], *, grad: bool) -> list[torch.Tensor]:
        """Token log-probs of each continuation, one full sequence per (request, choice), flat order."""
        seqs = [(seq, len(c)) for e in encoded for seq, c in zip(e.sequences(), e.choices, strict=True)]
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i][0]))
        result: list[torch.Tensor | None] = [None] * len(seqs)
        with bar("score (full sequences)", total=len(seqs), unit="seq") as progress_bar:
            start = 0
            while start < len(order):
                width = len(seqs[order[start]][0])
                n = max(1, self.batch_tokens // width)
                batch = order[start : start + n]
                self._full_batch([seqs[i] for i in batch], batch, result, grad)
                progress_bar.update(len(batch))
                start += n
        return result  # type: ignore[return-value]

    def _full_batch(self, seqs, indices, result, grad: bool) -> None:
        width = max(len(s) for s, _ in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, device=self.device)  # (B, L), right-padded
        mask = torch.zeros((len(seqs), width), dtype=torch.long, device=self.device)
        keep = torch.zeros((len(seqs), width), dtype=torch.bool, device=self.device)
        for b, (s, n) in enumerate(seqs):
            ids[b, : len(s)] = torch.tensor(s)
            mask[b, : len(s)] = 1
            keep[b, len(s) - n - 1 : len(s) - 1] = True  # positions predicting the continuation
        with torch.set_grad_enabled(grad):
            out = self.forward(input_ids=ids, attention_mask=mask, logits_to_keep=keep, use_cache=False)
            logp = out.logits.float().log_softmax(-1)  # (n_keep, V), row-major over (B, L)
            targets = torch.cat([torch.tensor(s[len(s) - n :]) for s, n in seqs]).to(self.device)
            token_lp = logp.gather(-1, targets[:, None])[:, 0]  # (n_keep,)
        for i, piece in zip(indices, token_lp.split([n for _, n in seqs]), strict=True):
            result[i] = piece

    # ------------------------------------------------------------------ plumbing

    def forward(self, **kwargs: Any) -> Any:
        """The one place the model is called; counts calls, input tokens and the seconds spent."""
        self.n_forward_calls += 1
        ids = kwargs.get("input_ids")
        start = time.perf_counter()
        out = self.model(**kwargs)
        self.forward_seconds += time.perf_counter() - start
        self.forward_tokens += int(ids.numel()) if ids is not None else 0
        return out

    def throughput(self) -> dict[str, float | str]:
        """Forward work so far: tokens, seconds, the achieved GFLOP/s at 2 × parameters FLOPs per token, and
        the dtype they ran in (compare with that dtype's matmul ceiling: bfloat16 can be 4× float32's)."""
        params = sum(p.numel() for p in self.model.parameters())
        rate = self.forward_tokens / self.forward_seconds if self.forward_seconds else 0.0
        return {
            "tokens": float(self.forward_tokens),
            "seconds": self.forward_seconds,
            "tokens_per_s": rate,
            "gflops": 2 * params * rate / 1e9,
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """Eval mode (dropout off) and no autograd; the previous mode is restored."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.model.train(was_training)

    def cache_allowed(self) -> bool:
        """Whether cached results are valid: no adapters attached and no trainable weights."""
        if any(type(m).__module__.startswith("peft.") for m in self.model.modules()):
            return False
        return not any(p.requires_grad for p in self.model.parameters())

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def clear_memory(self) -> None:
        """Forget the in-memory prefix KV caches (e.g. after changing the weights)."""
        self._heads.clear()


def _split_pair(request: ScoreRequest) -> tuple[str, tuple[str, ...]]:
    """The context text and the continuation texts, trailing whitespace moved as lm-eval does."""
    text = request.prefix + request.context
    stripped = text.rstrip()
    space = text[len(stripped) :]
    return stripped, tuple(space + c for c in request.continuations)


def _check_request(request: ScoreRequest, choices: list[list[int]]) -> None:
    if not request.continuations:
        raise E2HError("a ScoreRequest has no continuations: give at least one choice to score.")
    for text, ids in zip(request.continuations, choices, strict=True):
        if not text:
            raise E2HError(f"empty continuation in request {request.context[:40]!r}: every choice needs text.")
        if not ids:
            raise E2HError(
                f"continuation {text!r} adds no token after {request.context[-40:]!r}: it merges into the "
                "context's last token; start it with a space or end the context differently."
            )


def _bos_ids(tokenizer: Any) -> list[int]:
    """``[bos_id]`` if the tokenizer prepends BOS when adding special tokens, else ``[]``."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    return [bos] if with_special and with_special[0] == bos else []


def _max_length(model: Any, tokenizer: Any) -> int:
    limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    sane = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    return min(sane) if sane else 2048


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
