"""The paper presets (configs/paper/*.yaml): each is documented, valid at full and small scale, and its small version
runs end to end on the tiny random model with fixture datasets standing in for the built-ins (hub unreachable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import e2h.data
from e2h.data import DATASETS, arc, dataset_facts
from e2h.data.catalog import builtin_facts, finish_items
from e2h.errors import E2HError
from e2h.experiments import RunStore, expand, parse_config, run_experiment
from e2h.experiments.config import apply_scale
from e2h.results_format import read_manifest

PRESETS = sorted((Path(__file__).resolve().parents[2] / "configs" / "paper").glob("*.yaml"))
NAMES = [p.stem for p in PRESETS]
MAIN = ["arc", "mmlu", "strategyqa", "gsm8k"]


def _data(name: str) -> dict[str, Any]:
    return yaml.safe_load((PRESETS[NAMES.index(name)]).read_text())


def test_every_paper_experiment_has_a_preset():
    assert set(NAMES) == {
        *MAIN,
        "all_to_all",
        "third_grade_to_college",
        "noisy_labels",
        "cost_curves",
        "model_scaling",
    }


@pytest.mark.parametrize("name", NAMES)
def test_a_preset_says_what_it_recreates_and_how_to_run_it_at_both_scales(name):
    path = PRESETS[NAMES.index(name)]
    header = path.read_text().split("\nname:")[0]
    assert "Hase et al., ACL 2024" in header and f"e2h run configs/paper/{name}.yaml" in header
    assert "--scale small" in header and "--dry-run" in header
    full = parse_config(_data(name), source=f"config {name}", base_dir=path.parent)
    small = parse_config(_data(name), source=f"config {name}", base_dir=path.parent, scale="small")
    assert small.name == f"{full.name}-small" and len(small.seeds) < len(full.seeds)
    assert len(full.seeds) >= 5 and "unsupervised" in [spec.name for spec in full.learners]
    assert {d.name for d in small.datasets} == {d.name for d in full.datasets}
    assert small.train_on == full.train_on and small.test_on == full.test_on


@pytest.mark.parametrize("name", MAIN)
def test_the_main_presets_follow_the_paper_design(name):
    config = parse_config(_data(name), base_dir=PRESETS[0].parent)
    assert config.test_on == "all" and config.n_train == [160] and {"easy", "hard", "all"} <= set(config.train_on)
    k = {"arc": 10, "mmlu": 10, "strategyqa": 8, "gsm8k": 8}[name]
    assert all(dataset_facts(d.name).k == k and d.k is None for d in config.datasets) and config.k is None


def test_the_cost_and_noise_presets_carry_their_design():
    cost = parse_config(_data("cost_curves"), base_dir=PRESETS[0].parent)
    assert cost.n_train == [10, 20, 40, 80, 160, 320] and len(cost.seeds) == 10 and cost.label_cost["hard"] == 2
    noise = parse_config(_data("noisy_labels"), base_dir=PRESETS[0].parent)
    assert noise.label_noise.p == [0.0, 0.05, 0.1, 0.2, 0.3] and noise.label_noise.hard_multiplier == 2.0


LLAMA_2_70B = "meta-llama/Llama-2-70b-hf"
MIXTRAL = "mistralai/Mixtral-8x7B-v0.1"
#: the models each preset names at full scale, with the quantization the paper's run_jobs.py loaded them in
PAPER_MODELS = {
    **{name: {LLAMA_2_70B: "int8"} for name in [*MAIN, "all_to_all", "noisy_labels", "cost_curves"]},
    "third_grade_to_college": {MIXTRAL: "none", LLAMA_2_70B: "int8", "meta-llama/Llama-2-70b-chat-hf": "int8"},
    "model_scaling": {f"meta-llama/Llama-2-{size}-hf": "int8" for size in ("7b", "13b", "70b")},
}
CPU_MODELS = {"smollm2-135m", "gemma3-270m", "qwen2.5-coder-1.5b"}


@pytest.mark.parametrize("name", NAMES)
def test_full_scale_names_the_paper_models_and_every_scale_fits_a_cpu(name):
    data = _data(name)
    full = parse_config(data, base_dir=PRESETS[0].parent)
    assert {m: full.model_quantization(m) for m in full.models} == PAPER_MODELS[name]
    cells = expand(full, {i: d.measures for i, d in enumerate(full.datasets)})
    assert {(c.model, c.quantization) for c in cells} == set(PAPER_MODELS[name].items())
    if any(spec.name == "lora" for spec in full.learners):  # QLoRA trains on the run's own 8-bit model, as the paper
        assert all(spec.options["quantization"] == "int8" for spec in full.learners if spec.name == "lora")
    for scale, settings in data["scales"].items():
        config = parse_config(data, base_dir=PRESETS[0].parent, scale=scale)
        if "models" not in settings:  # a full-scale variant (another learner set): the paper's models again
            assert set(config.models) == set(full.models), scale
        elif scale != "figure1":
            assert set(config.models) <= CPU_MODELS and config.quantization == {}, scale


def test_model_scaling_is_mmlu_icl_at_full_scale_and_arc_by_grade_on_a_cpu():
    data = _data("model_scaling")
    full = parse_config(data, base_dir=PRESETS[0].parent)
    assert [(d.name, d.measures) for d in full.datasets] == [("mmlu-stem5", ["human_level"])]
    assert [spec.name for spec in full.learners] == ["unsupervised", "icl"] and full.test_on == "hard"
    cpu = parse_config(data, base_dir=PRESETS[0].parent, scale="cpu")
    assert set(cpu.models) == CPU_MODELS and cpu.name == "paper-model_scaling-cpu"
    assert [(d.name, d.variant, d.measures) for d in cpu.datasets] == [("arc", "paper", ["human_grade"])]
    assert [spec.name for spec in cpu.learners] == ["unsupervised", "icl", "linear-probe"]
    assert cpu.train_on == ["easy", "hard", "all"] and cpu.test_on == "hard" and len(cpu.seeds) >= 5
    assert "once registered" not in (PRESETS[NAMES.index("model_scaling")]).read_text()


def test_the_cpu_model_scaling_runs_on_fixtures(tmp_path, fixture_datasets):
    data = _data("model_scaling")
    config = parse_config(miniature({**data, "scales": {"small": data["scales"]["cpu"]}}, tmp_path), base_dir=tmp_path)
    result = run_experiment(config)
    assert result.ok, result.failures[:1]
    assert {(c.dataset, c.measure) for c in result.cells} == {("arc", "human_grade")}


# --- the small versions, run on fixtures -------------------------------------------------------------------------


def _fixture_rows(name: str, variant: str | None) -> pd.DataFrame:
    """180 items per built-in dataset, every measure spread so that each level can supply a split."""
    rows = []
    for i in range(180):
        words = " ".join(["word"] * (i % 9))
        base = {"id": f"{name}/{i}", "subject": "", "source_split": "test", "reasoning": ""}
        if name in ("arc", "mmlu-stem5"):
            choices = [f"{'long ' * ((i + j) % 5)}choice {j}{'x' * (i % 7)}" for j in range(4)]
            base.update(question=f"Question {i} {words}?", choices=choices, label=i % 4)
        if name == "arc":
            base.update(arc_subset="easy", arc_challenge=0.0)
            annotated = i % 10 != 9  # one item in ten lacks its annotations: the paper variant drops it
            base.update(
                human_grade=float(3 + i % 6) if annotated else np.nan,
                human_bloom=float(1 + i % 6),
                human_dok=float(1 + i % 3),
                human_difficulty=float(1 + i % 3),
            )
        elif name == "mmlu-stem5":
            base.update(human_level=float(i % 2))
        elif name == "strategyqa":
            steps = 1 + i % 5
            base.update(question=f"Is {i} {words} odd?", choices=["yes", "no"], label=i % 2, num_steps=float(steps))
            base.update(reasoning=" ".join(f"Fact {s} about {i}." for s in range(steps)))
        elif name == "gsm8k":
            steps = 2 + i % 7
            base.update(question=f"What is {i} plus {i}? {words}", choices=[str(2 * i)], label=0)
            base.update(num_steps=float(steps), reasoning="\n".join(f"{i} + {i} = {2 * i}." for _ in range(steps)))
        rows.append(base)
    frame = pd.DataFrame(rows)
    return arc.fully_annotated(frame, Path("fixture")) if name == "arc" and variant == "paper" else frame


@pytest.fixture
def fixture_datasets(monkeypatch):
    """The built-in datasets replaced by fixtures; the hub is unreachable (as with E2H_OFFLINE=1)."""

    def base_table(name, source, variant, annotations, stamp):
        if source == "hub":
            raise E2HError("source='hub' needs the network but E2H_OFFLINE is set")
        rows = _fixture_rows(name, variant)
        return finish_items(rows, name, DATASETS.get(name).measures, f"fixture {name}", builtin_facts(name))

    monkeypatch.setenv("E2H_OFFLINE", "1")
    monkeypatch.setattr(e2h.data, "_base_table", base_table)


def miniature(data: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A preset's small version, shrunk to seconds: the tiny model, 1 seed, 6 test items, n_train / 20, k = 2,
    two generated tokens, each dataset's first measure. Every dataset, learner, level and noise value stays."""
    data = apply_scale(data, "small")
    sizes = data["n_train"] if isinstance(data["n_train"], list) else [data["n_train"]]
    budget = {"max_new_tokens": 2}

    def shrink(learner: Any) -> Any:
        spec = {"name": learner} if isinstance(learner, str) else dict(learner)
        if spec["name"] in ("icl-cot", "zero-shot-cot") or spec.get("options", {}).get("objective") == "cot":
            spec["options"] = {**spec.get("options", {}), **budget}
        if spec["name"] == "linear-probe":
            spec["options"] = {**spec.get("options", {}), "epochs": 10}
        return spec

    datasets = []
    for entry in data["datasets"]:
        entry = {key: value for key, value in entry.items() if key not in ("k", "n_test")}
        entry["measures"] = entry.get("measures", [])[:1]  # none: a random split
        if "learners" in entry:
            entry["learners"] = [shrink(learner) for learner in entry["learners"]]
        if dataset_facts(entry["name"]).unsupervised == "zero-shot-cot":
            entry["unsupervised"] = {"name": "zero-shot-cot", "options": budget}
        datasets.append(entry)
    return {
        **data,
        "models": ["tiny-random"],
        "datasets": datasets,
        "learners": [shrink(learner) for learner in data["learners"]],
        "n_train": sorted({max(2, n // 20) for n in sizes}),
        "n_test": 6,
        "k": 2,
        "seeds": 1,
        "output_dir": str(tmp_path / "runs"),
    }


@pytest.mark.parametrize("name", NAMES)
def test_the_small_version_runs_on_fixtures(name, tmp_path, fixture_datasets):
    config = parse_config(miniature(_data(name), tmp_path), source=f"config {name}", base_dir=PRESETS[0].parent)
    result = run_experiment(config)
    assert result.ok, result.failures[:1]
    store = RunStore(result.run_dir)
    assert all(store.is_done(c.cell_id) for c in result.cells)
    manifest = read_manifest(result.run_dir)
    hub = [d.name for d in config.datasets if d.source == "hub"]
    assert all(any(note.startswith(f"{d}: the hub is unreachable") for note in manifest["notes"]) for d in hub)
    # every dataset entry has its unsupervised baseline, marked, and the learners the preset names
    baselines = {(c.dataset, c.learner) for c in result.cells if c.baseline}
    assert {d for d, _ in baselines} == {d.name for d in config.datasets}
    expected = {"gsm8k": "zero-shot-cot"}
    assert all(learner == expected.get(d, "zero-shot") for d, learner in baselines)


def test_the_cli_plans_a_config_at_a_scale_without_a_model(tmp_path, toy_csv, monkeypatch, capsys):
    from e2h.cli import main

    config = tmp_path / "toy.yaml"
    config.write_text(
        "name: toy\nmodels: [tiny-random]\ndatasets: [{name: toy.csv, measures: [difficulty]}]\n"
        f"learners: [unsupervised, {{name: icl, options: {{k: 2}}}}]\nn_train: 4\nn_test: 8\nseeds: 5\n"
        f"output_dir: {tmp_path / 'runs'}\nscales: {{small: {{n_test: 3, seeds: 2}}}}\n"
    )
    monkeypatch.setattr("e2h.models.load_model", lambda *a, **k: pytest.fail("dry run loaded a model"))
    main(["--quiet", "run", str(config), "--scale", "small", "--dry-run"])
    out = capsys.readouterr().out
    assert "6 cells, 6 to compute" in out and "toy-small" in out and "icl easy→hard n=4 seed=1" in out


def test_the_arc_preset_levels_by_a_model_based_measure(tmp_path, fixture_datasets, monkeypatch):
    """`--scale small-model-hardness`: the ARC grid levelled by `mdl_proxy` of models other than the tested one
    (not circular), computed first on the run's items; its held-out pool (the items its probes trained on) is in no
    split of the run, whatever the measure (`exclude_pool`)."""
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "home"))  # the measure of the fixture "arc" stays out of the cache
    from e2h.analysis import load_results
    from e2h.experiments import plan
    from e2h.experiments.cell import cell_split
    from e2h.measure_names import model_slug, parse_measure_name

    data = _data("arc")
    scale = apply_scale(data, "small-model-hardness")
    measures = [parse_measure_name(m) for m in scale["datasets"][0]["measures"]]
    assert scale["compute_measures"] and scale["datasets"][0]["exclude_pool"] is True
    assert [(m.method, m.learner) for m in measures] == [("mdl_proxy", None), ("mdl_proxy", "zero-shot")]
    ladder = {"smollm2-135m", "smollm2-135m-instruct", "gemma3-270m", "qwen2.5-coder-1.5b"}
    tested = {model_slug(m) for m in scale["models"]}
    assert all(len(m.models) == 2 and set(m.models) <= ladder and not set(m.models) & tested for m in measures)
    small = parse_config(apply_scale(data, "small"), base_dir=PRESETS[0].parent)
    assert {**data["scales"]["small"], "datasets": scale["datasets"]} == {
        k: v for k, v in data["scales"]["small-model-hardness"].items() if k != "compute_measures"
    }
    miniature_data = miniature({**data, "scales": {"small": data["scales"]["small-model-hardness"]}}, tmp_path)
    miniature_data["datasets"][0]["measures"] = ["mdl_proxy_tiny-random"]
    config = parse_config(miniature_data, base_dir=PRESETS[0].parent)
    assert config.learners == parse_config(miniature(data, tmp_path), base_dir=PRESETS[0].parent).learners
    assert small.train_on == config.train_on and small.test_on == config.test_on
    result = run_experiment(config)
    assert result.ok, result.failures[:1]
    items = e2h.data.load_dataset("arc", variant="paper")  # computed on the run's items (the hub is unreachable)
    held_out = set(items.loc[items["mdl_proxy_tiny-random"].isna(), "id"])
    assert len(held_out) == 162 // 3  # the pool: a third of the fixture's 162 fully annotated items
    assert set(load_results(result.run_dir)["measure"]) == {"mdl_proxy_tiny-random"}
    data, cells, _ = plan(config)
    splits = [cell_split(cell, data) for cell in cells]
    used = {i for split in splits for part in (split.train, split.test) for i in part["id"]}
    assert used and not held_out & used


def test_the_1p5b_study_is_powered_as_designed_and_its_icl_cells_are_model_scalings():
    """arc/mmlu `cpu-1.5b-*`: the probe on every hard item not held back × 10 seeds, ICL on ≥ 300 × ≥ 5 (issue
    design); strategyqa `cpu-1.5b`: both on every hard item not held back × 5; ARC's ICL cells are exactly
    model_scaling --scale cpu's cells of the same model (one run fills the other's cache)."""

    def cells(name: str, scale: str) -> list:
        return expand(parse_config(_data(name), base_dir=PRESETS[0].parent, scale=scale))

    def key(cell) -> tuple:
        return (cell.model, cell.dataset, cell.measure, cell.learner, cell.params, cell.train_on, cell.n_test,
                cell.k, cell.seed, cell.test_draw)  # fmt: skip

    for name in ("arc", "mmlu"):
        probe = parse_config(_data(name), base_dir=PRESETS[0].parent, scale="cpu-1.5b-probe")
        icl = parse_config(_data(name), base_dir=PRESETS[0].parent, scale="cpu-1.5b-icl")
        for config, learner in ((probe, "linear-probe"), (icl, "icl")):
            assert config.models == ["qwen2.5-coder-1.5b"] and config.test_on == "hard"
            assert [spec.name for spec in config.learners] == ["unsupervised", learner]
            assert config.train_on == ["easy", "hard", "all"]
        assert probe.n_test == "all" and len(probe.seeds) >= 10
        assert (icl.n_test == "all" or icl.n_test >= 300) and len(icl.seeds) >= 5
    strategyqa = parse_config(_data("strategyqa"), base_dir=PRESETS[0].parent, scale="cpu-1.5b")
    assert strategyqa.models == ["qwen2.5-coder-1.5b"] and strategyqa.test_on == "hard" and strategyqa.n_test == "all"
    assert [spec.name for spec in strategyqa.learners] == ["unsupervised", "icl", "linear-probe"]
    assert len(strategyqa.seeds) >= 5 and strategyqa.train_on == ["easy", "hard", "all"]
    scaling = {key(c) for c in cells("model_scaling", "cpu") if c.model == "qwen2.5-coder-1.5b"}
    study = {key(c) for c in cells("arc", "cpu-1.5b-icl")}
    assert study and study <= scaling
    assert {json.loads(c.params)["format"] for c in cells("arc", "cpu-1.5b-probe") + cells("arc", "cpu-1.5b-icl")} == {
        "listed"  # the prompt check: listed puts the 1.5B model further above chance than cloze (docs/results.md)
    }
