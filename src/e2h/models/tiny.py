"""A tiny randomly initialised causal LM and a byte-level tokenizer, built offline in milliseconds.

Tests, the CUDA smoke test and examples use it wherever a real model is not the point.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>"]


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A tokenizer with one token per byte (256) plus ``<pad>``, ``<s>`` and ``</s>``."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


def tiny_llama(seed: int = 0, hidden_size: int = 32, num_layers: int = 2, vocab_size: int = 259) -> PreTrainedModel:
    """A Llama with random weights (``torch.manual_seed(seed)``), float32, eval mode."""
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


def tiny_gemma(seed: int = 0, sliding_window: int = 6) -> PreTrainedModel:
    """A Gemma 3 with random weights that mixes a sliding-window layer and a full-attention layer, float32, eval."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"], pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Gemma3ForCausalLM(config)
    return model.eval()


def save_tiny_model(folder: str | Path, seed: int = 0, **kwargs: int) -> Path:
    """Write a tiny model and its tokenizer to ``folder`` (loadable with ``from_pretrained``)."""
    folder = Path(folder)
    tiny_llama(seed, **kwargs).save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    return folder
