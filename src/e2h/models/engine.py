"""The scoring engine: log-likelihoods of continuations, with shared prefixes computed once.

Tokenization rule (every path here: ``score``, ``score_naive``, ``choice_logprobs``,
``hidden_states``, ``sequence_loss``, ``generate``)::

    ids = [BOS, if the tokenizer adds one] + tok(prefix) + tok(context) + tok(continuation)

each piece tokenized on its own without special tokens. The *head* is ``BOS + tok(prefix)``.

Fast path (:meth:`LanguageModel.score`):

1. the head is run once per distinct prefix; its KV cache (per layer ``(1, n_kv, P, hd)``) is
   kept in a small LRU and never mutated: each forward gets a fresh cache built from it;
2. requests that share a head are *tree-packed* into one row of at most ``batch_tokens`` new
   tokens, ``ctx_1 ch_1^1 ch_1^2 … ctx_2 ch_2^1 …``, with a 4D mask in which a token sees the
   head, the earlier tokens of its own context, and the earlier tokens of its own choice; the
   position ids continue from the head (choice ``j`` of request ``r`` starts at ``P + len(ctx_r)``).
   So each context is computed once for all its choices and each choice once;
3. only the positions that predict continuation tokens are projected onto the vocabulary.

:meth:`LanguageModel.choice_logprobs` (with gradients) packs rows the same way, but with the head
moved into each request's context: no KV is computed outside the autograd graph, and the
context (head included) is still computed once for all of a request's choices.

The naive path runs one full sequence per (request, choice), sorted by length and batched
under the same token budget, so the two differ only in prefix sharing.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from e2h.errors import E2HError
from e2h.io import atomic_path, content_hash
from e2h.paths import cache_dir
from e2h.progress import bar

ENGINE_VERSION = 1  # bump when a change alters cached scores or hidden states
_HEAD_LRU = 4  # distinct prefixes whose KV cache is kept in memory


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


@dataclass
class _Encoded:
    """A request in token ids: the head (BOS + prefix), the context and each continuation."""

    head: tuple[int, ...]
    context: list[int]
    choices: list[list[int]]

    @property
    def n_new(self) -> int:  # tokens the request adds after the head in a packed row
        return len(self.context) + sum(len(c) for c in self.choices)


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
        self.bos = _bos_ids(tokenizer)
        self.pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
        self._heads: OrderedDict[tuple[int, ...], tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]]
        self._heads = OrderedDict()

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

    def encode(self, requests: Sequence[ScoreRequest]) -> list[_Encoded]:
        """Apply the tokenization rule; raise if a request cannot be scored or is too long."""
        heads: dict[str, tuple[int, ...]] = {}
        encoded = []
        for request in requests:
            if not request.continuations:
                raise E2HError("a ScoreRequest has no continuations: give at least one choice to score.")
            if request.prefix not in heads:
                heads[request.prefix] = tuple(self.bos + self.tokenize(request.prefix))
            item = _Encoded(heads[request.prefix], self.tokenize(request.context), [])
            item.choices = [self.tokenize(c) for c in request.continuations]
            if any(not c for c in item.choices):
                raise E2HError(f"empty continuation in request {request.context[:40]!r}: every choice needs text.")
            if not item.head and not item.context:
                raise E2HError("a request with no prefix and no context cannot be scored by a model without BOS.")
            longest = len(item.head) + len(item.context) + max(len(c) for c in item.choices)
            if longest > self.max_length:
                raise E2HError(
                    f"request of {longest} tokens exceeds {self.name}'s max_length {self.max_length}: "
                    "use fewer demonstrations or shorter text (count with lm.count_tokens)."
                )
            encoded.append(item)
        return encoded

    # ------------------------------------------------------------------ scoring

    def score(
        self, requests: Sequence[ScoreRequest], *, desc: str | None = None, cache: bool | None = None
    ) -> list[ChoiceScores]:
        """Summed log-probs of every continuation (fast path, no gradients, disk-cached)."""
        requests = list(requests)
        path = self._cache_file("scores", "score", [_request_key(r) for r in requests], cache=cache)
        if path is not None and path.is_file():
            return _load_scores(path)
        encoded = self.encode(requests)
        logprobs = [np.zeros(len(e.choices)) for e in encoded]
        with self._inference():
            for head, rows in self._packed_rows(encoded):
                past, head_last = self._head_cache(head)
                with bar(desc or f"score {self.name}", total=len(rows), unit="row") as progress_bar:
                    for row in rows:
                        plan, token_lp = self._row_logprobs(encoded, row, len(head), past, head_last)
                        for (r, j, _, _), v in zip(plan, token_lp.tolist(), strict=True):
                            logprobs[r][j] += v
                        progress_bar.update(1)
        scores = [_choice_scores(lp, e, r) for lp, e, r in zip(logprobs, encoded, requests, strict=True)]
        if path is not None:
            _save_scores(path, scores)
        return scores

    def score_naive(self, requests: Sequence[ScoreRequest]) -> list[ChoiceScores]:
        """Reference scores: one full forward per prompt+continuation (batched, sorted by length)."""
        requests = list(requests)
        encoded = self.encode(requests)
        with self._inference():
            flat = self._full_logprobs(encoded, grad=False)
        out, i = [], 0
        for e, r in zip(encoded, requests, strict=True):
            lp = np.array([float(t.sum()) for t in flat[i : i + len(e.choices)]])
            out.append(_choice_scores(lp, e, r))
            i += len(e.choices)
        return out

    def choice_logprobs(self, requests: Sequence[ScoreRequest]) -> list[torch.Tensor]:
        """Summed log-prob of each continuation WITH gradients: one ``(n_choices,)`` tensor per request.

        Tree-packed like :meth:`score`, with each head packed into its request's context so that
        every token is on the autograd graph; equal to one full sequence per choice.
        """
        encoded = [_Encoded((), [*e.head, *e.context], e.choices) for e in self.encode(list(requests))]
        sizes = [len(e.choices) for e in encoded]
        first = np.cumsum([0, *sizes])  # request r's choices are flat[first[r] : first[r] + sizes[r]]
        flat = torch.zeros(sum(sizes), device=self.device)  # (total choices,)
        with torch.enable_grad():
            for _, rows in self._packed_rows(encoded):  # one group: every head is now empty
                for row in rows:
                    plan, token_lp = self._row_logprobs(encoded, row, 0, None, None)
                    which = torch.tensor([int(first[r]) + j for r, j, _, _ in plan], device=self.device)
                    flat = flat.index_add(0, which, token_lp)  # out of place: autograd-safe
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
        """Hidden states ``(n_choices, n_layers, d)`` of each request's last continuation token (disk-cached).

        See :mod:`e2h.models.hidden` for what a layer index means; default: middle and last layer.
        """
        from e2h.models.hidden import hidden_states

        return hidden_states(self, requests, layers, cache)

    def generate(
        self, prompts: Sequence[str], *, max_new_tokens: int = 256, stop: Sequence[str] = ("\n\n",)
    ) -> list[str]:
        """Greedy continuations of ``prompts`` (new text only, cut before the first stop string or EOS)."""
        from e2h.models.generation import generate

        return generate(self, prompts, max_new_tokens=max_new_tokens, stop=stop)

    # ------------------------------------------------------------------ fast path internals

    def _packed_rows(self, encoded: list[_Encoded]) -> Iterator[tuple[tuple[int, ...], list[list[int]]]]:
        """Group requests by head, then pack each group, longest first, into rows under the token budget."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, e in enumerate(encoded):
            groups.setdefault(e.head, []).append(i)
        for head, members in groups.items():
            members.sort(key=lambda i: -encoded[i].n_new)
            rows: list[list[int]] = []
            size = 0
            for i in members:
                if rows and size + encoded[i].n_new <= self.batch_tokens:
                    rows[-1].append(i)
                    size += encoded[i].n_new
                else:
                    rows.append([i])
                    size = encoded[i].n_new
            yield head, rows

    def _head_cache(self, head: tuple[int, ...]) -> tuple[list[tuple[torch.Tensor, torch.Tensor]] | None, Any]:
        """KV cache and next-token log-probs ``(V,)`` after the head; computed once per prefix (LRU)."""
        if not head:
            return None, None
        keep = self.cache_allowed()  # with trainable weights a remembered KV may be stale
        if keep and head in self._heads:
            self._heads.move_to_end(head)
            return self._heads[head]
        from transformers import DynamicCache

        ids = torch.tensor([head], device=self.device)  # (1, P)
        out = self._forward(input_ids=ids, cache=DynamicCache(), use_cache=True, logits_to_keep=1)
        past = [(layer.keys, layer.values) for layer in out.cache.layers]  # each (1, n_kv, P, hd)
        entry = (past, out.logits[0, -1].float().log_softmax(-1))
        if keep:
            self._heads[head] = entry
            while len(self._heads) > _HEAD_LRU:
                self._heads.popitem(last=False)
        return entry

    def _tree_inputs(self, encoded: list[_Encoded], row: list[int], head_len: int) -> dict[str, Any]:
        """Packed ids, positions, segment labels and the scoring plan of one row."""
        ids, pos, req, branch = [], [], [], []
        plan = []  # (request index, choice index, position predicting token (-1: head), token id)
        ends = []  # (request index, choice index, position of the choice's last token)
        for r in row:
            e = encoded[r]
            start = len(ids)
            ids += e.context
            pos += range(head_len, head_len + len(e.context))
            req += [r] * len(e.context)
            branch += [-1] * len(e.context)
            last_ctx = start + len(e.context) - 1 if e.context else -1
            for j, choice in enumerate(e.choices):
                first = len(ids)
                ids += choice
                pos += range(head_len + len(e.context), head_len + len(e.context) + len(choice))
                req += [r] * len(choice)
                branch += [j] * len(choice)
                for k, token in enumerate(choice):
                    plan.append((r, j, last_ctx if k == 0 else first + k - 1, token))
                ends.append((r, j, len(ids) - 1))
        return {"ids": ids, "pos": pos, "req": req, "branch": branch, "plan": plan, "ends": ends}

    def _tree_mask(self, t: dict[str, Any], head_len: int) -> Any:
        """Additive mask ``(1, 1, q, P + q)``: head visible, own context, own choice, causal; per layer type."""
        dev = self.device
        req = torch.tensor(t["req"], device=dev)  # (q,)
        branch = torch.tensor(t["branch"], device=dev)  # (q,)
        pos = torch.tensor(t["pos"], device=dev)  # (q,)
        q = len(t["ids"])
        idx = torch.arange(q, device=dev)
        inner = (idx[None, :] <= idx[:, None]) & (req[None, :] == req[:, None])
        inner &= (branch[None, :] == -1) | (branch[None, :] == branch[:, None])  # (q, q)
        allowed = torch.cat([torch.ones(q, head_len, dtype=torch.bool, device=dev), inner], dim=1)  # (q, P+q)
        full = _additive(allowed, self.dtype)[None, None]  # (1, 1, q, P+q)
        window = getattr(self.model.config, "sliding_window", None)
        layer_types = set(getattr(self.model.config, "layer_types", None) or ())
        if not (window and layer_types - {"full_attention"}):
            return full
        # hybrid models (Gemma 3) take one mask per layer type; sliding layers see the last `window` positions
        key_pos = torch.cat([torch.arange(head_len, device=dev), pos])  # (P+q,)
        sliding = _additive(allowed & (pos[:, None] - key_pos[None, :] < window), self.dtype)[None, None]
        return {kind: full if kind == "full_attention" else sliding for kind in layer_types}

    def _tree_forward(self, t: dict[str, Any], head_len: int, past: Any, **kwargs: Any) -> Any:
        """One forward over a packed row (see the module docstring)."""
        from transformers import DynamicCache

        ids = torch.tensor([t["ids"]], device=self.device)  # (1, q)
        pos = torch.tensor([t["pos"]], device=self.device)  # (1, q)
        cache = DynamicCache(ddp_cache_data=past) if past is not None else None  # fresh: the head's is never mutated
        return self._forward(
            input_ids=ids,
            position_ids=pos,
            attention_mask=self._tree_mask(t, head_len),
            cache=cache,
            use_cache=cache is not None,
            **kwargs,
        )

    def _row_logprobs(
        self, encoded: list[_Encoded], row: list[int], head_len: int, past: Any, head_last: Any
    ) -> tuple[list[tuple[int, int, int, int]], torch.Tensor]:
        """Log-prob ``(n_plan,)`` of every continuation token of one packed row, and the plan saying whose.

        The plan has one ``(request, choice, predicting position or -1 for the head, token)`` per
        continuation token; gradients flow when autograd is on and ``past`` is ``None``.
        """
        t = self._tree_inputs(encoded, row, head_len)
        plan = t["plan"]
        keep = sorted({p for _, _, p, _ in plan if p >= 0}) or [0]  # [0]: nothing to project but a dummy
        out = self._tree_forward(t, head_len, past, logits_to_keep=torch.tensor(keep, device=self.device))
        logp = out.logits[0].float().log_softmax(-1)  # (n_keep, V)
        if head_last is not None:
            logp = torch.cat([logp, head_last[None]])  # row n_keep: the head's next-token log-probs
        row_of = {p: i for i, p in enumerate(keep)} | {-1: len(keep)}
        where = torch.tensor([row_of[p] for _, _, p, _ in plan], device=self.device)
        targets = torch.tensor([tok for *_, tok in plan], device=self.device)
        return plan, logp[where, targets]  # (n_plan,)

    # ------------------------------------------------------------------ full-sequence path

    def _full_logprobs(self, encoded: list[_Encoded], *, grad: bool) -> list[torch.Tensor]:
        """Token log-probs of each continuation, one full sequence per (request, choice), flat order."""
        seqs = [(list(e.head) + e.context + c, len(c)) for e in encoded for c in e.choices]
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
            out = self._forward(input_ids=ids, attention_mask=mask, logits_to_keep=keep, use_cache=False)
            logp = out.logits.float().log_softmax(-1)  # (n_keep, V), row-major over (B, L)
            targets = torch.cat([torch.tensor(s[len(s) - n :]) for s, n in seqs]).to(self.device)
            token_lp = logp.gather(-1, targets[:, None])[:, 0]  # (n_keep,)
        for i, piece in zip(indices, token_lp.split([n for _, n in seqs]), strict=True):
            result[i] = piece

    # ------------------------------------------------------------------ plumbing

    def _forward(self, **kwargs: Any) -> Any:
        """The one place the model is called."""
        self.n_forward_calls += 1
        return self.model(**kwargs)

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

    def _cache_file(self, kind: str, *key: Any, cache: bool | None, suffix: str = ".npz") -> Any:
        use = self.cache if cache is None else cache
        if not use or not self.cache_allowed():
            return None
        folder = cache_dir(kind, _safe(self.name))
        return folder / f"{content_hash(ENGINE_VERSION, self.fingerprint, *key)}{suffix}"

    def clear_memory(self) -> None:
        """Forget the in-memory prefix KV caches (e.g. after changing the weights)."""
        self._heads.clear()


def _choice_scores(logprob: np.ndarray, e: _Encoded, request: ScoreRequest) -> ChoiceScores:
    return ChoiceScores(
        logprob=np.asarray(logprob, dtype=np.float64),
        n_tokens=np.array([len(c) for c in e.choices], dtype=np.int64),
        n_chars=np.array([len(c) for c in request.continuations], dtype=np.int64),
    )


def _request_key(r: ScoreRequest) -> list[Any]:
    return [r.prefix, r.context, list(r.continuations)]


def _save_scores(path: Any, scores: list[ChoiceScores]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            counts=np.array([len(s.logprob) for s in scores], dtype=np.int64),
            logprob=np.concatenate([s.logprob for s in scores]) if scores else np.zeros(0),
            n_tokens=np.concatenate([s.n_tokens for s in scores]) if scores else np.zeros(0, np.int64),
            n_chars=np.concatenate([s.n_chars for s in scores]) if scores else np.zeros(0, np.int64),
        )


def _load_scores(path: Any) -> list[ChoiceScores]:
    with np.load(path) as data:
        counts, columns = data["counts"], [data[k] for k in ("logprob", "n_tokens", "n_chars")]
    if not counts.size:
        return []
    parts = [np.split(column, np.cumsum(counts)[:-1]) for column in columns]
    return [ChoiceScores(lp, nt, nc) for lp, nt, nc in zip(*parts, strict=True)]


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Boolean "may attend" → additive float mask (0 where allowed, the dtype's minimum elsewhere)."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


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
