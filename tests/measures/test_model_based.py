"""Each model-based measure on the synthetic dataset: it recovers the planted difficulty, and its table reads back."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from e2h.data import load_dataset
from e2h.errors import E2HError
from e2h.measures import compute_measure
from e2h.measures.prequential import block_ends

FAST_MDL = {"sizes": (5, 20, 80), "resamples": 3, "holdout": 100}


def _spearman(items, measure: str) -> float:
    both = items[[measure, "planted"]].dropna()
    return float(stats.spearmanr(both[measure], both["planted"]).statistic)


def test_mdl_proxy_recovers_planted_difficulty(synthetic, fake_lm):
    lm = fake_lm(load_dataset(synthetic))
    [result] = compute_measure(synthetic, "mdl_proxy", models=[lm], **FAST_MDL)
    assert result.measure == "mdl_proxy_synthetic"
    assert result.table["held_out"].sum() == 100
    assert result.provenance["summary"]["n_fits"] == 9
    items = load_dataset(synthetic)
    assert "mdl_proxy_synthetic" in items.attrs["measures"]
    assert items["mdl_proxy_synthetic"].notna().sum() == 140  # held-out items are NaN
    assert _spearman(items, "mdl_proxy_synthetic") >= 0.7


def test_prequential_recovers_planted_difficulty_and_compresses(synthetic, fake_lm):
    lm = fake_lm(load_dataset(synthetic))
    [result] = compute_measure(synthetic, "prequential", models=[lm], permutations=2, first_block=8)
    summary = result.provenance["summary"]
    assert summary["uniform_bits"] == pytest.approx(240 * 2.0)
    assert summary["total_bits"] < 0.8 * summary["uniform_bits"]
    assert summary["compression"] > 1.25
    assert _spearman(load_dataset(synthetic), "prequential_synthetic") >= 0.7


def test_prequential_of_random_labels_is_about_uniform(tmp_path, write_synth, fake_lm):
    path = write_synth(tmp_path / "random.jsonl", random_labels=True)
    lm = fake_lm(load_dataset(path))
    [result] = compute_measure(path, "prequential", models=[lm], permutations=2, first_block=8)
    summary = result.provenance["summary"]
    assert summary["total_bits"] == pytest.approx(summary["uniform_bits"], rel=0.1)


def test_prequential_bits_add_up(synthetic, fake_lm):
    lm = fake_lm(load_dataset(synthetic))
    [result] = compute_measure(synthetic, "prequential", models=[lm], permutations=1, first_block=8)
    assert result.table["value"].sum() == pytest.approx(result.provenance["summary"]["total_bits"])
    assert block_ends(240, 8) == [8, 16, 32, 64, 128, 240]
    assert block_ends(8, 8) == [8]


def test_two_models_are_averaged_and_named(synthetic, fake_lm):
    lm = fake_lm(load_dataset(synthetic))
    other = fake_lm(load_dataset(synthetic))
    other.name = "other/Model"
    [one] = compute_measure(synthetic, "prequential", models=[lm], permutations=1, first_block=8)
    [two] = compute_measure(synthetic, "prequential", models=[lm, other], permutations=1, first_block=8)
    assert two.measure == "prequential_synthetic+other-model"
    np.testing.assert_allclose(two.table["value"], one.table["value"])  # identical models average to one


def test_per_token_nll_measures_recover_planted_difficulty(synthetic, fake_lm):
    lm = fake_lm(load_dataset(synthetic))
    results = compute_measure(synthetic, "nll_per_token", models=[lm])
    parts = ("question", "answer", "reasoning")
    assert [r.measure for r in results] == [f"nll_per_token_{part}_synthetic" for part in parts]
    items = load_dataset(synthetic)
    for result in results:
        assert _spearman(items, result.measure) >= 0.7


def test_per_token_nll_on_the_tiny_model_is_a_mean_token_nll(tmp_path, tiny_lm, write_synth):
    path = write_synth(tmp_path / "small.jsonl", n=6)
    results = compute_measure(path, "nll_per_token", models=[tiny_lm], format="cloze")
    by_name = {r.measure: r.table["value"].to_numpy() for r in results}
    question = by_name["nll_per_token_question_tiny-random"]
    assert np.all(question > 0) and np.all(np.isfinite(question))
    # a random model over a byte vocabulary: about log(vocab) nats per token
    assert 3.0 < question.mean() < 8.0


def _tiny_lm(start: str):
    """The tiny random Llama behind the engine, its byte tokenizer with the start token ``start`` names:
    ``bos-token`` (defines ``<s>``, does not add it: the tiny model's own), ``engine-bos`` (adds ``<s>`` itself),
    ``none`` (no BOS)."""
    import torch
    from tokenizers import processors

    from e2h.models.engine import LanguageModel
    from e2h.models.tiny import byte_tokenizer, tiny_llama

    tokenizer = byte_tokenizer()
    if start == "engine-bos":
        post = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        tokenizer._tokenizer.post_processor = post
    elif start == "none":
        tokenizer.bos_token = None
    cpu = torch.device("cpu")
    return LanguageModel(
        tiny_llama(), tokenizer, name=f"tiny-{start}", fingerprint=start, device=cpu, dtype=torch.float32
    )


def _summed_nll(lm, text: str, start: list[int]) -> float:
    """The reference: a plain forward of ``start + tok(text)``; minus the summed log-softmax of every token after
    the start (after the first token when there is no start)."""
    import torch

    ids = start + lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = lm.model(torch.tensor([ids])).logits[0]  # (T, vocab)
    logprobs = torch.log_softmax(logits[:-1].double(), dim=-1)  # position t predicts token t + 1
    return -float(logprobs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum())


@pytest.mark.parametrize(
    ("start", "ids", "label"), [("bos-token", [1], "<s>"), ("engine-bos", [1], "BOS"), ("none", [], "none")]
)
def test_nll_is_the_papers_summed_nll_of_the_bare_strings(start, ids, label, tmp_path, write_synth):
    """The paper's question/answer/reasoning likelihood (main.py write_text_prob_scores): each bare string scored
    alone after BOS, its token NLLs summed, equals a hand computation on a plain forward."""
    path = write_synth(tmp_path / "small.jsonl", n=5)
    lm = _tiny_lm(start)
    results = compute_measure(path, "nll", models=[lm])
    assert [r.measure for r in results] == [f"nll_{part}_tiny-{start}" for part in ("question", "answer", "reasoning")]
    items = load_dataset(path)
    texts = {
        "question": list(items["question"]),
        "answer": [choices[label] for choices, label in zip(items["choices"], items["label"], strict=True)],
        "reasoning": list(items["reasoning"]),
    }
    for result in results:
        part = result.measure.split("_")[1]
        expected = [_summed_nll(lm, text, ids) for text in texts[part]]
        np.testing.assert_allclose(result.table["value"], expected, rtol=1e-5)
        assert result.provenance["summary"] == {"n_values": 5, "n_unscorable": 0, "start_token": [label]}
        assert result.provenance["format"] is None and result.provenance["method_version"] == 2
    # a sum, not a mean: the longer reasoning costs more than the question under a random model
    values = {r.measure.split("_")[1]: r.table["value"].to_numpy() for r in results}
    assert np.all(values["reasoning"] > values["question"])


def test_nll_of_a_one_token_string_without_bos_is_zero(tmp_path):
    import pandas as pd

    path = tmp_path / "short.jsonl"
    rows = [{"id": "a", "question": "Why?", "choices": ["y", "no"], "label": 0}]
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    [question, answer] = compute_measure(path, "nll", models=[_tiny_lm("none")])
    assert answer.table["value"].tolist() == [0.0]  # "y": its one token is only context
    assert question.table["value"].iloc[0] > 0


def test_a_table_of_an_older_nll_definition_is_stale(synthetic, monkeypatch, capsys):
    from e2h.data import measure_tables

    [question, *_] = compute_measure(synthetic, "nll", models=[_tiny_lm("bos-token")])
    assert question.measure in load_dataset(synthetic).columns
    monkeypatch.setitem(measure_tables.METHOD_VERSIONS, "nll", 3)  # as the per-token tables of e2h before version 2
    items = load_dataset(synthetic)
    assert question.measure not in items.columns and question.measure in items.attrs["stale_measures"]
    assert "nll is now the paper's summed NLL of the bare strings; the former mean is nll_per_token" in (
        capsys.readouterr().err
    )


def test_irt_recovers_planted_difficulty(tmp_path, synthetic):
    import pandas as pd

    items = load_dataset(synthetic)
    rng = np.random.default_rng(1)
    b = 4.0 * (items["planted"].to_numpy() - 0.5)
    cells = tmp_path / "runs" / "synthetic" / "cells"
    cells.mkdir(parents=True)
    for j, theta in enumerate(rng.normal(size=40)):
        p = 0.25 + 0.75 / (1 + np.exp(-(theta - b)))
        seen = rng.uniform(size=len(b)) < 0.8  # each responder answered 80% of the items
        frame = pd.DataFrame({"item_id": items["id"][seen], "correct": rng.uniform(size=len(b))[seen] < p[seen]})
        frame.assign(n_choices=4).to_parquet(cells / f"cell{j}.parquet")
    difficulty, discrimination = compute_measure(synthetic, "irt", runs=[tmp_path / "runs" / "synthetic"])
    assert (difficulty.measure, discrimination.measure) == ("irt_difficulty", "irt_discrimination")
    diagnostics = difficulty.provenance["summary"]
    assert diagnostics["n_responders"] == 40 and diagnostics["n_items_fitted"] == 240
    assert diagnostics["log_likelihood"] < 0
    assert _spearman(load_dataset(synthetic), "irt_difficulty") >= 0.7


def test_irt_leaves_items_with_too_few_responses_out(tmp_path, synthetic):
    import pandas as pd

    cells = tmp_path / "run" / "cells"
    cells.mkdir(parents=True)
    for j in range(3):
        pd.DataFrame({"item_id": ["syn-0", "syn-1"], "correct": [True, j == 0], "n_choices": 4}).to_parquet(
            cells / f"c{j}.parquet"
        )
    pd.DataFrame({"item_id": ["syn-2"], "correct": [True], "n_choices": 4}).to_parquet(cells / "c9.parquet")
    [difficulty] = compute_measure(synthetic, "irt", runs=[tmp_path / "run"], irt_model="1pl", min_responses=3)
    values = difficulty.table.set_index("id")["value"]
    assert values[["syn-0", "syn-1"]].notna().all() and values[["syn-2", "syn-3"]].isna().all()
    assert values["syn-1"] > values["syn-0"]  # answered right less often: harder
    assert difficulty.provenance["summary"]["n_items_too_few_responses"] == 238


def test_bad_requests_name_the_fix(synthetic, fake_lm):
    with pytest.raises(E2HError, match="unknown method"):
        compute_measure(synthetic, "mdl")
    with pytest.raises(E2HError, match="takes no setting"):
        compute_measure(synthetic, "prequential", models=[], holdout=3)
    with pytest.raises(E2HError, match="--runs"):
        compute_measure(synthetic, "irt")
    with pytest.raises(E2HError, match="holdout"):
        compute_measure(synthetic, "mdl_proxy", models=[fake_lm(load_dataset(synthetic))], holdout=240)
