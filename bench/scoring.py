"""Engine speed: the prefix-sharing engine against the naive reference, same run, same items.

    .venv/bin/python bench/scoring.py                    # SmolLM2-135M on ARC-Challenge, writes BENCHMARKS.md
    .venv/bin/python bench/scoring.py --n-items 40 --n-icl-items 10 --model smollm2-135m --no-write

Two scoring workloads, both in the ``listed`` format: zero-shot (one context shared by the
choices) and ICL with k=10 demonstrations (one prefix shared by every item). For each, ``score``
(fast) and ``score_naive`` (one full sequence per choice) score the same requests; the script
prints items/s of each, the speed-up, and the largest |Δ log-prob| over all choices.

One generation workload: chain-of-thought ICL on GSM8k (``cot`` demonstrations, the
``icl-cot`` learner's prompts and stop strings). ``generate`` (the demonstrations' KV cache
shared, items decoded in batches) against ``generate_naive`` (one prompt at a time): items/s of
each, the speed-up, and the share of items whose greedy text is identical.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from e2h.data import load_dataset
from e2h.io import atomic_open
from e2h.learners.prompting import STOP
from e2h.models import ScoreRequest, load_model
from e2h.models.templates import build_request, cot_prompt, format_demos
from e2h.progress import set_quiet
from e2h.seeding import make_rng

TARGETS = {"zero-shot": 2.5, "icl-k10": 10.0}  # required speed-ups on a 2-core CPU
REPORT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    set_quiet(True)
    lm = load_model(args.model, cache=False, batch_tokens=args.batch_tokens)
    items = load_dataset("arc-challenge")
    rng = make_rng(args.seed, "bench", "scoring")
    order = rng.permutation(len(items))
    test = items.iloc[order[: max(args.n_items, args.n_icl_items)]]
    demos = format_demos([row for _, row in items.iloc[order[-args.k :]].iterrows()], "listed")
    workloads = {
        "zero-shot": [build_request(row, "listed") for _, row in test.iloc[: args.n_items].iterrows()],
        f"icl-k{args.k}": [
            build_request(row, "listed", demos=demos) for _, row in test.iloc[: args.n_icl_items].iterrows()
        ],
    }
    lm.score(workloads["zero-shot"][:2])  # warm-up (allocator, kernels), not timed
    results = [_measure(lm, name, requests) for name, requests in workloads.items()] if args.n_items else []
    cot = _measure_generation(lm, args) if args.n_cot_items else None
    for r in results:
        print(
            f"{r['workload']:>10}: {r['n_items']} items, {r['tokens_per_item']:.0f} tokens/item naive | "
            f"fast {r['fast_ips']:.2f} items/s | naive {r['naive_ips']:.3f} items/s | "
            f"speed-up {r['ratio']:.1f}x (CPU time {r['cpu_ratio']:.1f}x; "
            f"target {TARGETS.get(r['workload'], 0):.1f}x) | "
            f"max |Δ logprob| {r['max_diff']:.2e}"
        )
    if cot is not None:
        print(
            f"{cot['workload']:>10}: {cot['n_items']} items, {cot['new_tokens_per_item']:.0f} new tokens/item | "
            f"fast {cot['fast_ips']:.3f} items/s | naive {cot['naive_ips']:.3f} items/s | "
            f"speed-up {cot['ratio']:.1f}x (CPU time {cot['cpu_ratio']:.1f}x) | "
            f"identical {cot['agreement']:.0%}"
        )
    if args.write:
        _write_report(results, cot, lm, args, argv if argv is not None else sys.argv[1:])
        print(f"wrote {REPORT}")


def _measure(lm, name: str, requests: list[ScoreRequest]) -> dict:
    lm.clear_memory()  # the prefix KV is part of what the fast path pays for
    start, cpu = time.perf_counter(), time.process_time()
    fast = lm.score(requests, cache=False)
    fast_s, fast_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    naive = lm.score_naive(requests)
    naive_s, naive_cpu = time.perf_counter() - start, time.process_time() - cpu
    diff = max(float(np.abs(a.logprob - b.logprob).max()) for a, b in zip(fast, naive, strict=True))
    tokens = sum(len(e.head) + len(e.context) + len(c) for e in lm.encode(requests) for c in e.choices)
    return {
        "workload": name,
        "n_items": len(requests),
        "tokens_per_item": tokens / len(requests),
        "fast_s": fast_s,
        "naive_s": naive_s,
        "fast_ips": len(requests) / fast_s,
        "naive_ips": len(requests) / naive_s,
        "ratio": naive_s / fast_s,
        "cpu_ratio": naive_cpu / fast_cpu,  # less sensitive to other jobs on a shared machine
        "max_diff": diff,
    }


def _measure_generation(lm, args: argparse.Namespace) -> dict:
    """Chain-of-thought ICL on GSM8k: batched, prefix-sharing ``generate`` vs ``generate_naive``."""
    items = load_dataset("gsm8k")
    order = make_rng(args.seed, "bench", "cot").permutation(len(items))
    demos = format_demos([row for _, row in items.iloc[order[-args.cot_k :]].iterrows()], "cot")
    prompts = [cot_prompt(row, demos) for _, row in items.iloc[order[: args.n_cot_items]].iterrows()]
    lm.clear_memory()
    start, cpu = time.perf_counter(), time.process_time()
    fast = lm.generate(prompts, max_new_tokens=args.max_new_tokens, stop=STOP, cache=False)
    fast_s, fast_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    naive = lm.generate_naive(prompts, max_new_tokens=args.max_new_tokens, stop=STOP)
    naive_s, naive_cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "workload": f"cot-k{args.cot_k}",
        "n_items": len(prompts),
        "new_tokens_per_item": sum(lm.count_tokens(t) for t in naive) / len(prompts),
        "fast_ips": len(prompts) / fast_s,
        "naive_ips": len(prompts) / naive_s,
        "ratio": naive_s / fast_s,
        "cpu_ratio": naive_cpu / fast_cpu,
        "agreement": float(np.mean([a == b for a, b in zip(fast, naive, strict=True)])),
    }


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    if Path("/proc/cpuinfo").is_file():
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        cpu = names[0] if names else cpu
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{cpu}; {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; "
        f"torch {torch.__version__}, transformers {transformers.__version__}, Python {platform.python_version()}; "
        f"load average at the end {load}"
    )


def _write_report(results: list[dict], cot: dict | None, lm, args: argparse.Namespace, argv: list[str]) -> None:
    rows = "\n".join(
        f"| {r['workload']} | {r['n_items']} | {r['tokens_per_item']:.0f} | {r['fast_ips']:.2f} | {r['naive_ips']:.3f} "
        f"| **{r['ratio']:.1f}×** | {r['cpu_ratio']:.1f}× | {TARGETS.get(r['workload'], 0):.1f}× "
        f"| {r['max_diff']:.1e} |"
        for r in results
    )
    note = f"\n> {args.note}\n" if args.note else ""
    cot_table = (
        f"""
Chain-of-thought generation (GSM8k, k={args.cot_k} `cot` demonstrations, greedy, at most {args.max_new_tokens} new
tokens, the `icl-cot` stop strings):

| workload | items | new tok/item | fast items/s | naive items/s | speed-up (wall) | (CPU) | identical text |
|---|---|---|---|---|---|---|---|
{_cot_row(cot)}

*fast* = `LanguageModel.generate`: the demonstrations' KV cache computed once and copied into a preallocated
cache per batch, items decoded together (left-padded suffixes, one forward per new token for the batch,
finished items dropped once half the batch is done).
*naive* = `LanguageModel.generate_naive`: one prompt at a time through the model's own masks.
"""
        if cot is not None
        else ""
    )
    section = f"""## Scoring engine: prefix sharing vs naive (`bench/scoring.py`)

Command: `{shlex.join([".venv/bin/python", "bench/scoring.py", *argv])}`.
Date: {datetime.date.today().isoformat()}. Machine: {_machine()}.
Model: {lm.name} ({lm.dtype}, {lm.device}, batch_tokens={lm.batch_tokens}); ARC-Challenge, `listed` format,
the same items for both paths (seed {args.seed}); ICL uses k={args.k} demonstrations shared by every item.
{note}
| workload | items | naive tok/item | fast items/s | naive items/s | speed-up (wall) | (CPU) | target | max \\|Δ\\| |
|---|---|---|---|---|---|---|---|---|
{rows}

*fast* = `LanguageModel.score`: the demonstrations' KV cache is computed once and reused; each item's
context is computed once for all its choices (tree packing with a 4D attention mask); only the logits
that score continuation tokens are projected. *naive* = `LanguageModel.score_naive`: one full
sequence per (item, choice), sorted by length and batched under the same token budget.
{cot_table}"""
    old = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\n"
    head, _, rest = old.partition("## Scoring engine")
    tail = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""  # the other benchmarks' sections stay
    with atomic_open(REPORT) as handle:
        handle.write((head or "# Benchmarks\n\n") + section + ("\n" + tail if tail else ""))


def _cot_row(r: dict) -> str:
    return (
        f"| {r['workload']} | {r['n_items']} | {r['new_tokens_per_item']:.0f} | {r['fast_ips']:.3f} "
        f"| {r['naive_ips']:.3f} | **{r['ratio']:.1f}×** | {r['cpu_ratio']:.1f}× | {r['agreement']:.0%} |"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="alias, folder or hub id (default smollm2-135m)")
    parser.add_argument("--n-items", type=int, default=40, help="zero-shot items (default 40)")
    parser.add_argument("--n-icl-items", type=int, default=8, help="ICL items; naive ICL is slow (default 8)")
    parser.add_argument("--k", type=int, default=10, help="ICL demonstrations (default 10)")
    parser.add_argument("--n-cot-items", type=int, default=16, help="GSM8k chain-of-thought items (default 16)")
    parser.add_argument("--cot-k", type=int, default=4, help="chain-of-thought demonstrations (default 4)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="generation length cap (default 128)")
    parser.add_argument("--batch-tokens", type=int, default=None, help="tokens per forward (default: by device)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a line to put in BENCHMARKS.md (e.g. machine was shared)")
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only, keep BENCHMARKS.md")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
