"""load_model: aliases, folders, hub ids, devices, dtypes, and the real SmolLM2-135M-Instruct."""

from __future__ import annotations

import inspect
import io
import os
import re
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from e2h.errors import E2HError
from e2h.models import MODELS, ModelSpec, ScoreRequest, load_model
from e2h.models.loading import resolve_dtype
from e2h.models.registry import DEFAULT_MODEL
from e2h.models.tiny import save_tiny_model

REQUESTS = [ScoreRequest("Question: 2+2?\nAnswer:", (" 4", " five")), ScoreRequest("Sky?", (" blue",), prefix="Hi\n\n")]


def test_registry_lists_the_aliases():
    assert MODELS.names() == [
        "gemma3-270m",
        "qwen2.5-coder-1.5b",
        "smollm2-135m",
        "smollm2-135m-instruct",
        "tiny-random",
    ]


def test_default_model_is_smollm2_instruct_and_its_old_name_still_resolves():
    assert DEFAULT_MODEL == "smollm2-135m-instruct"
    assert inspect.signature(load_model).parameters["name"].default == DEFAULT_MODEL
    spec = MODELS.get("smollm2-135m")
    assert spec is MODELS.get(DEFAULT_MODEL) and spec.name == DEFAULT_MODEL
    assert "SmolLM2-135M-Instruct" in spec.description
    assert spec.cache_key == "smollm2-135m"  # the folder and fingerprint of its first name


def test_renamed_alias_keeps_folder_and_fingerprint(tiny_lm, monkeypatch):
    from e2h.paths import cache_dir

    renamed = ModelSpec(
        name="tiny-renamed", description="tiny, renamed", tiny=True, aliases=("tiny-old",), cache_name="tiny-random"
    )
    for name in ("tiny-renamed", "tiny-old"):
        monkeypatch.setitem(MODELS._items, name, renamed)
    new, old = load_model("tiny-renamed"), load_model("tiny-old")
    assert new.name == old.name == "tiny-renamed"
    assert new.fingerprint == old.fingerprint == tiny_lm.fingerprint
    assert not (cache_dir("models") / "tiny-renamed").exists() and not (cache_dir("models") / "tiny-old").exists()


def test_tiny_alias_records_what_was_used(tiny_lm):
    assert tiny_lm.name == "tiny-random"
    expected = resolve_dtype("auto", tiny_lm.device)  # bfloat16 on CUDA, the probe's choice on a CPU
    assert tiny_lm.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert tiny_lm.dtype == expected and next(tiny_lm.model.parameters()).dtype == expected
    assert tiny_lm.quantization == "none"
    assert tiny_lm.fingerprint.startswith("tiny-random@")
    assert tiny_lm.max_length == 4096
    assert not any(p.requires_grad for p in tiny_lm.model.parameters())
    assert load_model("tiny-random").fingerprint == tiny_lm.fingerprint


def test_dtype_changes_the_fingerprint(tiny_lm):
    lm = load_model("tiny-random", dtype="bfloat16")
    assert lm.dtype == torch.bfloat16 and next(lm.model.parameters()).dtype == torch.bfloat16
    assert lm.fingerprint != tiny_lm.fingerprint


def test_local_folder_loads_the_same_model(tmp_path, tiny_lm):
    folder = save_tiny_model(tmp_path / "my-model", seed=0)
    lm = load_model(str(folder))
    assert lm.name == "my-model" and lm.fingerprint != tiny_lm.fingerprint
    for a, b in zip(lm.score(REQUESTS, cache=False), tiny_lm.score(REQUESTS, cache=False), strict=True):
        np.testing.assert_allclose(a.logprob, b.logprob, atol=1e-6)


def test_unknown_alias_suggests_the_closest():
    with pytest.raises(E2HError, match="did you mean 'smollm2-135m'") as info:
        load_model("smollm2-13m")
    assert "\n" not in str(info.value)


def test_missing_folder_names_the_path(tmp_path):
    with pytest.raises(E2HError, match="does not exist"):
        load_model(str(tmp_path / "no" / "such-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(E2HError, match=r"no config\.json"):
        load_model(str(tmp_path / "empty"))


def test_offline_hub_id_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(E2HError, match="HF_HUB_OFFLINE") as info:
        load_model("some-org/some-model-that-is-not-cached")
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "\n" not in message and "smollm2-135m" in message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "float64"}, "unknown dtype"),
        ({"device": "tpu"}, "unknown device"),
        ({"quantization": "int4"}, "unknown quantization"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(E2HError, match=match):
        load_model("tiny-random", **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_quantization_needs_cuda():
    with pytest.raises(E2HError, match="needs a CUDA GPU"):
        load_model("tiny-random", quantization="nf4")
    with pytest.raises(E2HError, match="CUDA is not available"):
        load_model("tiny-random", device="cuda")


def test_check_quantization_says_what_is_missing_without_loading(monkeypatch):
    import sys

    from e2h.models import loading

    loading.check_quantization(None)  # unquantized: nothing to check
    loading.check_quantization("none", "cpu")
    with pytest.raises(E2HError, match="unknown quantization 'int3'"):
        loading.check_quantization("int3")
    monkeypatch.setattr(loading, "resolve_device", lambda device: torch.device("cpu"))
    with pytest.raises(E2HError, match=r"^model m: quantization int8 needs a CUDA GPU \(bitsandbytes\)"):
        loading.check_quantization("int8", "auto", "model m")
    monkeypatch.setattr(loading, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # not installed
    with pytest.raises(E2HError, match=r"nf4 needs bitsandbytes: pip install 'e2h\[quant\]'"):
        loading.check_quantization("nf4")


def test_chunks_join_in_order_and_are_checked(tmp_path, monkeypatch):
    import hashlib
    import zipfile

    from e2h import assets
    from e2h.models.loading import _gguf_file

    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("E2H_OFFLINE", "1")
    monkeypatch.setenv("E2H_ASSET_DIR", str(tmp_path / "wheels"))
    chunks = [b"GGUF" + bytes([n]) * 1000 for n in range(3)]
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        wheel = tmp_path / "wheels" / f"chunk{n}-1.0-py3-none-any.whl"
        wheel.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"chunk{n}/data/part{n:02d}.bin", chunk)
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        monkeypatch.setitem(assets.CARRIERS._items, f"chunk{n}", assets.Carrier(f"chunk{n}", wheel.name, sha))
        parts.append((f"chunk{n}", f"chunk{n}/data/part{n:02d}.bin"))
    joined = b"".join(chunks)
    spec = ModelSpec("chunked", "three chunks", "chunked.gguf", gguf_parts=tuple(parts))
    good = _gguf_file(replace(spec, gguf_sha256=hashlib.sha256(joined).hexdigest()))
    assert good.read_bytes() == joined
    assert not any(assets.assets_dir().rglob("*.bin")), "the extracted chunks are not kept beside their wheels"
    good.unlink()
    with pytest.raises(E2HError, match="expected"):
        _gguf_file(replace(spec, gguf_sha256="0" * 64))
    assert not good.exists(), "a joined file with the wrong hash is never left in place"


def _write_tiny_gguf(path) -> None:
    """The tiny random Llama and its byte tokenizer as a float32 GGUF file (what a GGUF alias downloads)."""
    import gguf

    from e2h.models.tiny import byte_tokenizer, tiny_llama

    model, config = tiny_llama(seed=0), tiny_llama(seed=0).config
    vocab = [token for token, _ in sorted(byte_tokenizer().get_vocab().items(), key=lambda kv: kv[1])]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(vocab)
    writer.add_token_types([1] * len(vocab))
    writer.add_token_scores([0.0] * len(vocab))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(0)
    outer = {"model.embed_tokens.weight": "token_embd", "model.norm.weight": "output_norm", "lm_head.weight": "output"}
    inner = {
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ffn_norm",
    }
    for name, tensor in model.state_dict().items():
        layer, _, part = name.removeprefix("model.layers.").partition(".")  # "0", "self_attn.q_proj.weight"
        gguf_name = outer.get(name) or f"blk.{layer}.{inner[part.removesuffix('.weight')]}"
        writer.add_tensor(f"{gguf_name}.weight", tensor.numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# transformers' bars: "Converting and de-quantizing GGUF tensors...: 100%|██| 21/21 [00:00<00:00, 26554.23it/s]"
_BAR = re.compile(r"GGUF tensors|Loading weights|Writing model|it/s|%\||\r|\x1b")


@pytest.mark.parametrize(
    ("where", "quiet", "bars"), [("log", "0", False), ("log", "1", False), ("terminal", "0", True)]
)
def test_gguf_conversion_and_loading_draw_bars_only_where_e2h_does(tmp_path, monkeypatch, where, quiet, bars):
    """A GGUF alias is dequantized and loaded through transformers; its bars follow e2h (none in a log or quiet)."""
    import sys

    from transformers.utils import logging

    from e2h.models import loading

    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("E2H_QUIET", quiet)
    _write_tiny_gguf(tmp_path / "tiny.gguf")
    monkeypatch.setitem(MODELS._items, "tiny-gguf", ModelSpec("tiny-gguf", "tiny as GGUF", "tiny.gguf"))
    monkeypatch.setattr(loading, "_gguf_file", lambda spec: tmp_path / "tiny.gguf")
    stderr = _Terminal() if where == "terminal" else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    lm = load_model("tiny-gguf", device="cpu", dtype="float32", cache=False)
    written = stderr.getvalue()
    assert lm.tokenizer(" there").input_ids[-6:] == lm.tokenizer.convert_tokens_to_ids(list("Ġthere"))  # byte tokens
    assert bool(_BAR.search(written)) == bars, written
    if bars:
        assert "Converting and de-quantizing GGUF tensors" in written and "Loading weights" in written
    else:
        assert written == (
            "" if quiet == "1" else f"e2h: dequantizing tiny.gguf into {tmp_path / 'home' / 'models'} (once)\n"
        )
    assert logging.is_progress_bar_enabled()  # as it was before the load


@pytest.mark.integration
def test_smollm2_loads_and_fast_matches_naive_on_arc():
    from e2h.data import load_dataset
    from e2h.models.templates import build_request, format_demos
    from e2h.paths import cache_dir

    lm = load_model("smollm2-135m-instruct", cache=False)  # dequantizes once into $E2H_HOME/models
    folder = cache_dir("models") / "smollm2-135m"  # the folder keeps the alias's first name
    assert (folder / "model.safetensors").is_file() and (folder / "e2h-model.json").is_file()
    assert lm.name == "smollm2-135m-instruct" and lm.fingerprint.startswith("smollm2-135m@")
    assert load_model("smollm2-135m", cache=False).fingerprint == lm.fingerprint
    assert lm.model.config.num_hidden_layers == 30 and lm.max_length == 8192
    items = load_dataset("arc-challenge").iloc[:21]
    demos = format_demos([items.iloc[20]], "listed")
    requests = [build_request(items.iloc[i], "listed") for i in range(16)]
    requests += [build_request(items.iloc[i], "listed", demos=demos) for i in range(16, 20)]
    fast, naive = lm.score(requests), lm.score_naive(requests)
    diffs = [np.abs(a.logprob - b.logprob).max() for a, b in zip(fast, naive, strict=True)]
    assert max(diffs) <= 1e-4
    assert all(np.isfinite(s.logprob).all() and (s.logprob < 0).all() for s in fast)


@pytest.mark.integration
@pytest.mark.skipif(
    os.environ.get("E2H_TEST_LARGE_MODELS", "0") in ("", "0"),
    reason="fetches 1.1 GB and writes 7 GB on first use: set E2H_TEST_LARGE_MODELS=1",
)
def test_qwen_coder_loads_and_prefers_the_right_sum():
    lm = load_model("qwen2.5-coder-1.5b", cache=False)  # joins 22 chunks and dequantizes once
    assert lm.model.config.model_type == "qwen2" and lm.model.config.num_hidden_layers == 28
    (scores,) = lm.score([ScoreRequest("Question: 2+2?\nAnswer:", (" 4", " 5"))], cache=False)
    assert scores.logprob[0] > scores.logprob[1] + 1.0
