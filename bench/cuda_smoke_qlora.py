"""CUDA smoke test: QLoRA on a small random Llama, and the bf16 engine's fast vs naive scores.

Run on a machine with a CUDA GPU and bitsandbytes (from the repository root)::

    python bench/cuda_smoke_qlora.py                       # defaults: hidden 256, 4 layers
    python bench/cuda_smoke_qlora.py --hidden-size 512 --layers 8 --epochs 20

Part 1 loads the model with ``e2h.models.load_model(folder, quantization="nf4")`` and runs
e2h's ``QLoRA`` learner (``mc`` and ``cot`` objectives) and an ``int8`` LoRA; it prints the
loss curves, the quantization each result records, devices and dtypes, and checks that the
base weights are unchanged by fit + predict. Part 2 loads the model unquantized on CUDA in
bfloat16 (and float32 as a reference) and prints max |Δ| between ``score`` and ``score_naive``.
On a machine without CUDA or bitsandbytes it exits with code 2 and one line saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

WORDS = ["red", "blue", "green", "cold", "warm", "tall", "short", "fast", "slow", "round", "flat", "loud"]


def synthetic_items(n: int, seed: int = 0) -> pd.DataFrame:
    """Four-choice items whose gold answer is always 'yes' (learnable), with a one-line reasoning."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = int(rng.integers(4))
        choices = [str(w) for w in rng.choice(WORDS, size=3, replace=False)]
        choices.insert(label, "yes")
        rows.append(
            {
                "id": f"synthetic/{i}",
                "dataset": "synthetic",
                "question": f"Is item {i} the one?",
                "choices": choices,
                "label": label,
                "reasoning": f"Item {i} is the one.",
                "subject": "",
                "source_split": "test",
            }
        )
    return pd.DataFrame(rows)


def describe(lm) -> str:
    weight = lm.model.model.layers[0].self_attn.q_proj.weight
    return f"{lm!r}; q_proj weight {type(weight).__name__} {weight.dtype} on {weight.device}; compute dtype {lm.dtype}"


def run_learner(learner_cls, lm, items: pd.DataFrame, **options) -> None:
    learner = learner_cls(lm, **options)
    start = time.perf_counter()
    learner.fit(items)
    fit_s = time.perf_counter() - start
    target = learner._model_for(learner.quantization_)  # the (possibly reloaded) quantized model
    before = {k: v.detach().clone() for k, v in target.model.state_dict().items()}
    start = time.perf_counter()
    predictions = learner.predict(items)
    predict_s = time.perf_counter() - start
    learner.fit(items)  # a second fit on the same base model
    unchanged = all(torch.equal(before[k], v) for k, v in target.model.state_dict().items())
    adapter = next(iter(learner.adapter_state_.values()))
    losses = " ".join(f"{h['loss']:.3f}" for h in learner.history_)
    print(f"  {learner!r}")
    print(f"    model: {describe(target)}")
    print(f"    adapter dtype {adapter.dtype}; {learner.n_steps_} steps in {fit_s:.1f}s; predict {predict_s:.1f}s")
    print(f"    loss curve: {losses}")
    print(f"    info: quantization={predictions.info['quantization']!r} objective={predictions.info['objective']!r}")
    print(f"    train accuracy after fit: {predictions.accuracy:.3f}; base weights unchanged: {unchanged}")
    if predictions.generation is not None:
        print(f"    first generation: {predictions.generation[0]!r}")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def part_qlora(folder: Path, epochs: int) -> None:
    from e2h.learners.lora import LoRA, QLoRA
    from e2h.models import load_model

    print("== Part 1: QLoRA through e2h.models.load_model(folder, quantization='nf4')")
    lm = load_model(str(folder), quantization="nf4")
    print(f"  loaded: {describe(lm)}")
    items = synthetic_items(16)
    run_learner(QLoRA, lm, items, lr=1e-3, epochs=epochs, batch_size=8)
    run_learner(QLoRA, lm, items, objective="cot", lr=1e-3, epochs=epochs, batch_size=8, max_new_tokens=16)
    print("  int8 LoRA (reloads the model with quantization='int8'):")
    run_learner(LoRA, load_model(str(folder)), items, lr=1e-3, epochs=max(1, epochs // 2), quantization="int8")


def part_engine(folder: Path, device: str = "cuda") -> None:
    from e2h.models import ScoreRequest, load_model

    print("== Part 2: engine on CUDA, fast (prefix-shared) vs naive scores")
    rng = np.random.default_rng(0)
    prefix = "Question: warm or cold?\nAnswer: warm\n\n"
    requests = [
        ScoreRequest(
            context=f"Question: which of {' '.join(rng.choice(WORDS, 5))}?\nAnswer:",
            continuations=tuple(f" {w}" for w in rng.choice(WORDS, 4, replace=False)),
            prefix=prefix if i % 2 else "",
        )
        for i in range(64)
    ]
    for dtype in ("bfloat16", "float32"):
        lm = load_model(str(folder), device=device, dtype=dtype)
        start = time.perf_counter()
        fast = lm.score(requests, cache=False)
        _sync(device)
        fast_s = time.perf_counter() - start
        start = time.perf_counter()
        naive = lm.score_naive(requests)
        _sync(device)
        naive_s = time.perf_counter() - start
        delta = max(float(np.max(np.abs(f.logprob - n.logprob))) for f, n in zip(fast, naive, strict=True))
        scale = max(float(np.max(np.abs(n.logprob))) for n in naive)
        print(f"  {describe(lm)}")
        print(f"    max |fast - naive| = {delta:.3e} (max |logprob| {scale:.1f})")
        print(f"    fast {fast_s:.2f}s, naive {naive_s:.2f}s for {len(requests)} requests")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("cuda_smoke_qlora: needs a CUDA GPU (torch.cuda.is_available() is False): run it on a GPU machine.")
        return 2
    if importlib.util.find_spec("bitsandbytes") is None:
        print("cuda_smoke_qlora: needs bitsandbytes for 4-bit/8-bit loading: pip install 'e2h[quant]'.")
        return 2

    from e2h.models.tiny import save_tiny_model
    from e2h.progress import set_quiet

    set_quiet(True)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {torch.cuda.get_device_name(0)}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_tiny_model(Path(tmp) / "tiny-llama", seed=0, hidden_size=args.hidden_size, num_layers=args.layers)
        part_qlora(folder, args.epochs)
        part_engine(folder)
    print("cuda_smoke_qlora: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
