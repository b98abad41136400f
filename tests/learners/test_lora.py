"""LoRA / QLoRA: the paper's schedule, the training loop on tiny-random, the adapter lifecycle, CoT, fallbacks."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from e2h.errors import E2HError
from e2h.learners.lora import (
    LoRA,
    QLoRA,
    attached_adapter,
    decay_groups,
    default_target_modules,
    training_schedule,
)
from e2h.models.templates import build_request
from e2h.models.tiny import tiny_llama

QUESTIONS = [
    ("What melts ice?", ["heat", "cold", "dark"], 0),
    ("What is wet?", ["sand", "water"], 1),
    ("Which is a colour?", ["run", "blue", "seven", "loud"], 1),
    ("What do cows drink?", ["milk", "oil", "water"], 2),
    ("Which is a number?", ["nine", "tree"], 0),
    ("What shines at night?", ["sun", "moon", "soil"], 1),
    ("What do bees make?", ["honey", "iron", "glass", "salt"], 0),
    ("Which animal barks?", ["cat", "fish", "dog"], 2),
]


def handmade_items() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": f"hand/{i}",
                "dataset": "toy",
                "question": question,
                "choices": choices,
                "label": label,
                "reasoning": f"Think about {choices[label]}.",
                "subject": "",
                "source_split": "test",
            }
            for i, (question, choices, label) in enumerate(QUESTIONS)
        ]
    )


def gold_nll(lm, items: pd.DataFrame) -> float:
    """Mean NLL of the gold choice under the model's own choice softmax (no adapter involved)."""
    scores = lm.score([build_request(item, "listed") for _, item in items.iterrows()], cache=False)
    nll = [-torch.log_softmax(torch.tensor(s.logprob), 0)[y] for s, y in zip(scores, items["label"], strict=True)]
    return float(np.mean(nll))


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- pure parts ------------------------------------------------------------------------------


def test_training_schedule_follows_the_paper_rule():
    assert training_schedule(8, 50, None, 10) == (8, 10, 10)  # 1 step/epoch → 10 epochs to reach 10 steps
    assert training_schedule(160, 50, None, 10) == (50, 3, 12)  # 4 steps/epoch, at least 3 epochs
    assert training_schedule(160, 50, None, 150) == (50, 38, 152)  # CoT: at least 150 steps
    assert training_schedule(500, 50, None, 10) == (50, 3, 30)
    assert training_schedule(160, 50, 2, 150) == (50, 2, 8)  # epochs given: used as is


def test_default_target_modules_per_architecture():
    assert default_target_modules(tiny_llama()) == ["q_proj", "v_proj"]
    with pytest.raises(E2HError, match="target_modules"):
        default_target_modules(torch.nn.Linear(2, 2))


def test_decay_groups_skip_norms_and_biases():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    decay, no_decay = decay_groups(model, 1e-5)
    assert [p.shape for p in decay["params"]] == [torch.Size([3, 3])]
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def test_attached_adapter_is_fresh_and_leaves_no_trace():
    model = tiny_llama()
    before = snapshot(model)
    learner = LoRA(None, r=4, alpha=8)
    learner.target_modules_ = default_target_modules(model)
    ids = torch.tensor([[1, 40, 41, 42]])
    base_logits = model(ids).logits
    with attached_adapter(model, learner._config()) as peft_model:
        lora_b = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
        assert lora_b and all(torch.count_nonzero(p) == 0 for p in lora_b)  # B = 0: starts as the base model
        torch.testing.assert_close(model(ids).logits, base_logits)
        for p in lora_b:
            p.data.fill_(0.1)
        assert not torch.allclose(model(ids).logits, base_logits)  # the engine's model object runs the adapter
    assert not any("lora" in name for name, _ in model.named_modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    torch.testing.assert_close(model(ids).logits, base_logits, rtol=0, atol=0)


# --- on tiny-random ----------------------------------------------------------------------------


def test_fit_lowers_training_loss_and_restores_the_base_model(tiny_lm):
    items = handmade_items()
    weights = snapshot(tiny_lm.model)
    base_nll = gold_nll(tiny_lm, items)
    rng_state = torch.random.get_rng_state()

    learner = LoRA(tiny_lm, r=8, alpha=32, lr=5e-2, epochs=10, seed=0).fit(items)
    assert len(learner.history_) == learner.n_steps_ == 10
    assert learner.history_[-1]["loss"] < 0.9 * learner.history_[0]["loss"]
    assert learner.history_[0]["loss"] == pytest.approx(base_nll, rel=1e-5)  # B = 0: step 0 sees the base model
    assert learner.history_[0]["lr"] == pytest.approx(5e-2)
    assert learner.history_[-1]["lr"] == pytest.approx(5e-2 * (1 - 0.9 * 9 / 10))
    predictions = learner.predict(items)
    adapted_nll = float(np.mean(-np.log(predictions.gold_prob)))
    assert adapted_nll < 0.9 * base_nll
    assert predictions.info["quantization"] == "none"

    # the base model is untouched: same weights bit for bit, same modules, same scores, same torch RNG
    assert all(torch.equal(weights[k], v) for k, v in tiny_lm.model.state_dict().items())
    assert not any("lora" in name for name, _ in tiny_lm.model.named_modules())
    assert gold_nll(tiny_lm, items) == base_nll
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert tiny_lm.cache_allowed()


def test_second_fit_starts_from_a_fresh_adapter(tiny_lm):
    items = handmade_items()
    first, second = items.iloc[:4], items.iloc[4:]
    reused = LoRA(tiny_lm, r=4, alpha=8, lr=1e-2, epochs=2, seed=1).fit(first).fit(second)
    fresh = LoRA(tiny_lm, r=4, alpha=8, lr=1e-2, epochs=2, seed=1).fit(second)
    assert reused.adapter_state_.keys() == fresh.adapter_state_.keys()
    for name, tensor in fresh.adapter_state_.items():
        assert torch.equal(reused.adapter_state_[name], tensor), name


def test_same_seed_same_predictions_other_seed_differs(tiny_lm):
    items = handmade_items()
    a = LoRA(tiny_lm, r=4, alpha=8, lr=1e-2, epochs=1, seed=0).fit(items).predict(items)
    b = LoRA(tiny_lm, r=4, alpha=8, lr=1e-2, epochs=1, seed=0).fit(items).predict(items)
    c = LoRA(tiny_lm, r=4, alpha=8, lr=1e-2, epochs=1, seed=5).fit(items).predict(items)
    np.testing.assert_array_equal(np.concatenate(a.probs), np.concatenate(b.probs))
    assert not np.array_equal(np.concatenate(a.probs), np.concatenate(c.probs))


def test_predict_before_fit_is_a_clear_error(tiny_lm):
    with pytest.raises(E2HError, match="not fitted"):
        LoRA(tiny_lm).predict(handmade_items())


def test_cot_objective_end_to_end(tiny_lm):
    items = handmade_items()
    learner = LoRA(tiny_lm, objective="cot", r=4, alpha=8, lr=1e-2, epochs=2, max_new_tokens=6, seed=0)
    predictions = learner.fit(items).predict(items.iloc[:3])
    assert len(learner.history_) == 2 and all(np.isfinite(h["loss"]) for h in learner.history_)
    assert len(predictions.generation) == 3 and all(isinstance(g, str) for g in predictions.generation)
    assert [len(p) for p in predictions.probs] == [3, 2, 4]
    for p, pred in zip(predictions.probs, predictions.pred, strict=True):
        assert p.sum() == (1.0 if pred >= 0 else 0.0)
    assert predictions.info["objective"] == "cot"
    assert not any("lora" in name for name, _ in tiny_lm.model.named_modules())


def test_mc_objective_refuses_generative_items(tiny_lm):
    items = handmade_items()
    items["choices"] = [["42"]] * len(items)
    items["label"] = 0
    with pytest.raises(E2HError, match="objective='cot'"):
        LoRA(tiny_lm).fit(items)


def test_bad_options_are_clear_errors(tiny_lm):
    with pytest.raises(E2HError, match="objective='dpo' must be one of mc, cot"):
        LoRA(tiny_lm, objective="dpo")
    with pytest.raises(E2HError, match="quantization='fp3' must be one of null, none, nf4, int8, lora-or-qlora"):
        LoRA(tiny_lm, quantization="fp3")
    with pytest.raises(
        E2HError, match=r"epochs=0 must be null or a whole number >= 1 \(default null\); batch_size=0 must be"
    ):
        LoRA(tiny_lm, epochs=0, batch_size=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_qlora_refuses_on_cpu_and_falls_back_on_request(tiny_lm):
    with pytest.raises(E2HError, match="lora-or-qlora"):
        QLoRA(tiny_lm, epochs=1).fit(handmade_items())
    learner = QLoRA(tiny_lm, r=4, alpha=8, epochs=1, quantization="lora-or-qlora").fit(handmade_items())
    assert learner.predict(handmade_items()).info["quantization"] == "none"
    assert QLoRA(tiny_lm).get_params()["quantization"] == "nf4"


# --- integration ------------------------------------------------------------------------------


@pytest.mark.integration
def test_cot_lora_on_gsm8k_with_smollm2():
    from e2h.data import load_dataset
    from e2h.models import load_model

    lm = load_model("smollm2-135m")
    items = load_dataset("gsm8k")
    items = items[items["reasoning"].str.len() < 150].iloc[:2]
    weights = snapshot(lm.model)
    start = time.perf_counter()
    learner = LoRA(lm, objective="cot", epochs=1, batch_size=1, max_new_tokens=24, seed=0).fit(items)
    fit_seconds = time.perf_counter() - start
    predictions = learner.predict(items.iloc[:1])
    print(f"LoRA-CoT SmolLM2-135M: {learner.n_steps_} steps in {fit_seconds:.1f}s, history {learner.history_}")
    assert learner.n_steps_ == 2
    # a trained LM finds the gold solutions far likelier than uniform over 49k tokens (NLL 10.8)
    assert all(0 < h["loss"] < 4 for h in learner.history_)
    assert len(predictions.generation) == 1 and predictions.info["quantization"] == "none"
    assert all(torch.equal(weights[k], v) for k, v in lm.model.state_dict().items())
