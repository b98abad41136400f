"""Models: loading any causal LM and the one engine every learner goes through.

``load_model("smollm2-135m")`` returns a :class:`LanguageModel` with ``score`` (prefix-cached
log-likelihoods), ``score_naive`` (the reference), ``choice_logprobs`` and ``sequence_loss``
(with gradients), ``hidden_states``, ``prefetch`` (scores and hidden states in one pass) and
``generate`` (greedy); scores, hidden states and generations are cached per request on disk.
"""

from e2h.models.engine import ChoiceScores, LanguageModel, ScoreRequest
from e2h.models.loading import load_model
from e2h.models.registry import MODELS, ModelSpec

__all__ = ["MODELS", "ChoiceScores", "LanguageModel", "ModelSpec", "ScoreRequest", "load_model"]
