"""The engine surface that learners (and ``e2h.measures.memo.MemoLM``) use, written down as a Protocol.

:class:`e2h.models.LanguageModel` is the implementation; ``MemoLM`` wraps one and keeps the same surface. A learner
uses only the part it needs (a prompting learner scores or generates, the probe reads hidden states, LoRA trains
through ``choice_logprobs`` / ``sequence_loss`` on ``model``), so a test double may implement just that part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch

    from e2h.models.engine import ChoiceScores, ScoreRequest


@runtime_checkable
class LM(Protocol):
    """What a learner may ask of a language model; see :class:`e2h.models.LanguageModel` for each method."""

    name: str  # registry alias, hub id or folder name
    model: Any  # the torch module (LoRA injects its adapter into it)
    device: Any  # torch.device of the model
    max_length: int  # context length in tokens

    def count_tokens(self, text: str) -> int: ...

    def score(
        self, requests: Sequence[ScoreRequest], *, desc: str | None = None, cache: bool | None = None
    ) -> list[ChoiceScores]:
        """Summed log-prob of every continuation of each request, no gradients."""
        ...

    def hidden_states(
        self, requests: Sequence[ScoreRequest], layers: Sequence[int] | None = None, *, cache: bool | None = None
    ) -> list[np.ndarray]:
        """``(n_choices, n_layers, d)`` per request: the states at each continuation's last token."""
        ...

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 256,
        stop: Sequence[str] = ("\n\n",),
        prefix: str = "",
        cache: bool | None = None,
    ) -> list[str]:
        """Greedy continuations of ``prefix + prompt``, cut before the first stop string."""
        ...

    def choice_logprobs(self, requests: Sequence[ScoreRequest]) -> list[torch.Tensor]:
        """Summed log-prob of each continuation WITH gradients: ``(n_choices,)`` per request."""
        ...

    def sequence_loss(self, prompts: Sequence[str], targets: Sequence[str]) -> torch.Tensor:
        """Mean negative log-likelihood per target token, with gradients."""
        ...

    def cache_allowed(self) -> bool:
        """Whether cached results are valid (no adapter, no trainable weight)."""
        ...

    def clear_memory(self) -> None:
        """Forget in-memory prefix caches (after the weights changed)."""
        ...
