"""Quantized inference in experiments: a model entry's `quantization` reaches the cells, the loader and the manifest,
and a machine that cannot load it says so in one line before anything loads (CPU only: CUDA and bitsandbytes are
mocked where a test needs them present: the loader's device check answers cuda)."""

from __future__ import annotations

import sys
import types

import pytest
import torch

import e2h.models
from e2h.errors import ConfigError, E2HError
from e2h.experiments import RunStore, expand, run_experiment


def _quantized(make_config, quantization: str = "int8", **overrides):
    return make_config(models=[{"name": "tiny-random", "quantization": quantization}], **overrides)


def test_a_models_entry_carries_its_quantization(make_config):
    config = make_config(models=[{"name": "tiny-random", "quantization": "nf4"}, "acme/other-model"])
    assert config.models == ["tiny-random", "acme/other-model"]
    assert config.quantization == {"tiny-random": "nf4"}
    assert config.model_quantization("tiny-random") == "nf4" and config.model_quantization("acme/other-model") == "none"


@pytest.mark.parametrize(
    ("models", "quantization", "message"),
    [
        ([{"name": "tiny-random", "quantization": "int4"}], None, "unknown quantization 'int4'"),
        ([{"name": "tiny-random", "quantisation": "int8"}], None, "did you mean 'quantization'"),
        ([{"quantization": "int8"}], None, "it needs a name"),
        (["tiny-random"], {"acme/absent": "int8"}, "acme/absent is not in models"),
    ],
)
def test_a_bad_quantization_is_one_config_error(make_config, models, quantization, message):
    extra = {"quantization": quantization} if quantization else {}
    with pytest.raises(ConfigError, match=message) as info:
        make_config(models=models, **extra)
    assert "\n" not in str(info.value)


def test_quantization_is_in_the_cell_ids_and_labels(make_config):
    plain = expand(make_config())
    quantized = expand(_quantized(make_config))
    assert [c.quantization for c in quantized] == ["int8"] * len(plain)
    assert not {c.cell_id for c in plain} & {c.cell_id for c in quantized}
    assert all(c.describe().startswith("tiny-random (int8) ") for c in quantized)
    written_none = expand(make_config(models=[{"name": "tiny-random", "quantization": "none"}]))
    assert [c.cell_id for c in written_none] == [c.cell_id for c in plain]  # unquantized ids do not change


def test_a_cpu_scale_drops_the_full_scale_quantization(make_config):
    config = make_config(scales={"cpu": {"models": ["tiny-random"]}})
    assert config.quantization == {}
    full = _quantized(make_config)
    assert full.quantization == {"tiny-random": "int8"}


def _no_load(*args, **kwargs):
    pytest.fail("a model was loaded")


def test_on_a_cpu_a_quantized_run_stops_in_one_line_before_loading(make_config, monkeypatch):
    monkeypatch.setattr(e2h.models.loading, "resolve_device", lambda device: torch.device("cpu"))
    monkeypatch.setattr(e2h.models, "load_model", _no_load)
    config = _quantized(make_config)
    with pytest.raises(E2HError, match=r"model tiny-random: quantization int8 needs a CUDA GPU") as info:
        run_experiment(config)
    assert "\n" not in str(info.value)
    assert not RunStore.for_config(config).dir.exists(), "nothing written"


def test_without_bitsandbytes_a_quantized_run_says_what_to_install(make_config, monkeypatch):
    monkeypatch.setattr(e2h.models.loading, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import bitsandbytes raises ImportError
    monkeypatch.setattr(e2h.models, "load_model", _no_load)
    with pytest.raises(E2HError, match=r"quantization nf4 needs bitsandbytes: pip install 'e2h\[quant\]'"):
        run_experiment(_quantized(make_config, "nf4"))


def test_a_quantized_model_is_loaded_so_and_recorded(make_config, monkeypatch, tiny_lm):
    """With CUDA and bitsandbytes present (mocked), the backend asks the loader for the quantization; the manifest
    records it with the model and in the config, and every cell is computed."""
    monkeypatch.setattr(e2h.models.loading, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setitem(sys.modules, "bitsandbytes", types.ModuleType("bitsandbytes"))
    asked = []

    def load(name, **kwargs):
        asked.append(kwargs["quantization"])
        monkeypatch.setattr(tiny_lm, "quantization", kwargs["quantization"])  # what a CUDA load would report
        return tiny_lm

    monkeypatch.setattr(e2h.models, "load_model", load)
    config = _quantized(make_config)
    result = run_experiment(config)
    assert result.ok and asked == ["int8"]
    manifest = RunStore(result.run_dir)._read_manifest()
    assert manifest["models"]["tiny-random"]["quantization"] == "int8"
    assert manifest["config"]["quantization"] == {"tiny-random": "int8"}
    store = RunStore(result.run_dir)
    assert all(store.is_done(c.cell_id) and c.quantization == "int8" for c in result.cells)


def test_the_dry_run_shows_the_quantization_without_loading(make_config, tmp_path, toy_csv, monkeypatch, capsys):
    from e2h.cli import main

    config = tmp_path / "toy.yaml"
    config.write_text(
        "name: toy\nmodels: [{name: tiny-random, quantization: int8}]\n"
        "datasets: [{name: toy.csv, measures: [difficulty]}]\nlearners: [zero-shot]\nn_test: 5\n"
        f"output_dir: {tmp_path / 'runs'}\n"
    )
    monkeypatch.setattr(e2h.models, "load_model", _no_load)
    main(["--quiet", "run", str(config), "--dry-run"])
    assert "tiny-random (int8) toy.csv/difficulty zero-shot →hard seed=0" in capsys.readouterr().out
