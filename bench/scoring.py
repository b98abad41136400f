"""Engine speed: e2h's prefix-sharing engine, its naive reference and lm-evaluation-harness, same run, same items.

    make bench                                            # creates .venv-lmeval, then runs this with defaults
    .venv/bin/python bench/scoring.py --n-items 40 --n-icl-items 8 --no-write   # a quick look

Two scoring workloads on ARC-Challenge in lm-eval's ARC prompt (``cloze``): zero-shot (one context
shared by the choices) and ICL with k=10 demonstrations (one prefix shared by every item). Each is
scored three ways on identical strings:

* *e2h* -- ``LanguageModel.score`` (the demonstrations' KV computed once, each item's context once for
  all its choices, only the needed logits projected), its in-memory prefix cache cleared first;
* *naive* -- ``LanguageModel.score_naive``: one full sequence per (item, choice);
* *lm-eval* -- lm-evaluation-harness's ``HFLM.loglikelihood`` on ``(prefix + context, continuation)``,
  in its own virtualenv (``bench/lm_eval_parity.py`` is the worker); its model load is not timed.

For each: items/s, and for e2h the *unique* tokens per second -- the tokens a perfect prefix-sharing
engine must process (the nodes of the token trie of every ``prefix + context + continuation``) --
and that rate at 2 x parameters FLOPs per token as a share of this CPU's matmul ceiling, measured in
the same run. Agreement: the largest |delta log-prob| against each reference, and how often the
argmax choice is the same as lm-eval's.

Chain-of-thought generation has its own benchmark, ``bench/generation.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import LM_EVAL_PYTHON, LM_EVAL_WORKER, REPORT, machine, write_section

from e2h.data import load_dataset
from e2h.models import ScoreRequest, load_model
from e2h.models.cpu import cpu_name, matmul_ceiling
from e2h.models.templates import build_request, format_demos
from e2h.progress import set_quiet
from e2h.seeding import make_rng

FORMAT = "cloze"  # lm-eval's ARC prompt, so all three paths score the same strings
TARGETS = {"zero-shot": {"lm_eval": 3.5, "ceiling": 80.0}, "icl-k10": {"lm_eval": 30.0}}


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    set_quiet(True)
    ceiling = matmul_ceiling(refresh=True)  # GFLOP/s per dtype, measured now
    lm = load_model(args.model, cache=False, batch_tokens=args.batch_tokens)
    items = load_dataset("arc-challenge")
    rng = make_rng(args.seed, "bench", "scoring")
    order = rng.permutation(len(items))
    test = items.iloc[order[: max(args.n_items, args.n_icl_items)]]
    demos = format_demos([row for _, row in items.iloc[order[-args.k :]].iterrows()], FORMAT)
    workloads = {
        "zero-shot": [build_request(row, FORMAT) for _, row in test.iloc[: args.n_items].iterrows()],
        f"icl-k{args.k}": [
            build_request(row, FORMAT, demos=demos) for _, row in test.iloc[: args.n_icl_items].iterrows()
        ],
    }
    lm.score(workloads["zero-shot"][:2])  # warm-up (allocator, kernels), not timed
    gflops_ceiling = ceiling.get(str(lm.dtype).removeprefix("torch."), 0.0)
    lm_eval = args.lm_eval_python if args.lm_eval_python.is_file() else None
    if lm_eval is None:
        print(f"no lm-eval at {args.lm_eval_python}: its columns stay empty (`make bench` installs it)")
    results = [
        _measure(lm, name, requests, gflops_ceiling, lm_eval, args) for name, requests in workloads.items() if requests
    ]
    print(f"{cpu_name()}: matmul ceiling {gflops_ceiling:.1f} GFLOP/s ({lm.dtype}); model {lm.name}")
    for r in results:
        print(_line(r))
    if args.write:
        _write_report(results, lm, gflops_ceiling, args, argv if argv is not None else sys.argv[1:])


def _line(r: dict) -> str:
    lm_eval = (
        f"lm-eval {r['lm_eval_ips']:.3f} items/s, e2h {r['lm_eval_ratio']:.1f}x "
        f"(max |Δ| {r['lm_eval_diff']:.1e}, same argmax {r['lm_eval_argmax']:.1%})"
        if r.get("lm_eval_ips")
        else "lm-eval not run"
    )
    return (
        f"{r['workload']:>10}: {r['n_items']} items, {r['unique_per_item']:.0f} unique tokens/item | "
        f"e2h {r['fast_ips']:.2f} items/s = {r['unique_tps']:.0f} unique tok/s = {r['ceiling_pct']:.0f}% of ceiling | "
        f"naive {r['naive_ips']:.3f} items/s, e2h {r['ratio']:.1f}x (max |Δ| {r['max_diff']:.1e}) | {lm_eval}"
    )


def unique_tokens(lm, requests: list[ScoreRequest]) -> int:
    """Tokens a perfect prefix-sharing engine must process: nodes of the trie of all scored sequences."""
    trie: dict = {}
    nodes = 0
    for encoded in lm.encode(requests):
        for choice in encoded.choices:
            node = trie
            for token in (*encoded.head, *encoded.context, *choice):
                if token not in node:
                    node[token] = {}
                    nodes += 1
                node = node[token]
    return nodes


def _measure(lm, name: str, requests: list[ScoreRequest], ceiling: float, lm_eval: Path | None, args) -> dict:
    lm.clear_memory()  # the prefix KV is part of what the fast path pays for
    start, cpu = time.perf_counter(), time.process_time()
    fast = lm.score(requests, cache=False)
    fast_s, fast_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    naive = lm.score_naive(requests)
    naive_s, naive_cpu = time.perf_counter() - start, time.process_time() - cpu
    unique = unique_tokens(lm, requests)
    params = sum(p.numel() for p in lm.model.parameters())
    result = {
        "workload": name,
        "n_items": len(requests),
        "unique_per_item": unique / len(requests),
        "fast_ips": len(requests) / fast_s,
        "unique_tps": unique / fast_s,
        "ceiling_pct": 100 * 2 * params * unique / fast_s / 1e9 / ceiling if ceiling else float("nan"),
        "naive_ips": len(requests) / naive_s,
        "ratio": naive_s / fast_s,
        "cpu_ratio": naive_cpu / fast_cpu,  # less sensitive to other jobs on a shared machine
        "max_diff": _max_gap(fast, [s.logprob for s in naive]),
    }
    if lm_eval is not None:
        lls, timing = _lm_eval_scores(lm, name, requests, lm_eval, args.lm_eval_batch_size)
        result |= {
            "lm_eval_ips": len(requests) / timing["score_s"],
            "lm_eval_load_s": timing["load_s"],
            "lm_eval_ratio": timing["score_s"] / fast_s,
            "lm_eval_diff": _max_gap(fast, lls),
            "lm_eval_argmax": float(
                np.mean([np.argmax(s.logprob) == np.argmax(ll) for s, ll in zip(fast, lls, strict=True)])
            ),
        }
    return result


def _max_gap(scores: list, references: list[np.ndarray]) -> float:
    return max(float(np.abs(s.logprob - np.asarray(r)).max()) for s, r in zip(scores, references, strict=True))


def _lm_eval_scores(lm, name: str, requests: list[ScoreRequest], python: Path, batch_size: int):
    """lm-eval's log-likelihoods of the same (context, continuation) strings, and its load and scoring seconds."""
    model_dir = lm.model.name_or_path  # the folder e2h loaded (the dequantized GGUF for an alias)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
        requests_file, results_file = Path(work) / "requests.jsonl", Path(work) / "results.jsonl"
        with requests_file.open("w") as handle:
            for i, request in enumerate(requests):
                record = {"id": str(i), "context": request.prefix + request.context}
                handle.write(json.dumps(record | {"continuations": list(request.continuations)}) + "\n")
        worker = [str(python), str(LM_EVAL_WORKER), "--worker", str(model_dir), str(requests_file), str(results_file)]
        subprocess.run([*worker, str(batch_size)], check=True)
        by_id = {r["id"]: r["lls"] for r in map(json.loads, results_file.read_text().splitlines())}
        timing = json.loads(Path(f"{results_file}.timing.json").read_text())
    return [np.array(by_id[str(i)]) for i in range(len(requests))], timing


def _write_report(results: list[dict], lm, ceiling: float, args, argv: list[str]) -> None:
    rows = "\n".join(_row(r) for r in results)
    note = f"\n> {args.note}\n" if args.note else ""
    targets = "; ".join(
        f"{name}: e2h ≥ {t['lm_eval']:.1f}× lm-eval"
        + (f" and ≥ {t['ceiling']:.0f}% of the ceiling" if "ceiling" in t else "")
        for name, t in TARGETS.items()
    )
    section = f"""## Scoring engine: e2h vs its naive reference vs lm-evaluation-harness (`bench/scoring.py`)

Command: `make bench` = `{shlex.join([".venv/bin/python", "bench/scoring.py", *argv])}`.
Date: {datetime.date.today().isoformat()}. Machine: {machine()}.
Model: {lm.name} ({lm.dtype}, {lm.device}, batch_tokens={lm.batch_tokens}); this CPU's {lm.dtype} matmul ceiling,
measured in the same run: **{ceiling:.1f} GFLOP/s**. ARC-Challenge, `{FORMAT}` format (lm-eval's ARC prompt), the
same items and strings for all three paths (seed {args.seed}); ICL uses k={args.k} demonstrations shared by every
item. lm-eval 0.4.13 `HFLM.loglikelihood`, batch size {args.lm_eval_batch_size}, same torch threads; its model
load is not in its time. Targets on a 2-core CPU: {targets}.
{note}
{_HEADER}
{rows}

*unique tokens*: the nodes of the token trie of every scored `prefix + context + continuation`, i.e. what an
engine that shares every common prefix must still process; *% of ceiling* = unique tokens/s × 2 × parameters
FLOPs per token ÷ the measured matmul ceiling. *e2h* = `LanguageModel.score` (prefix KV computed once, tree
packing of each item's choices with a 4D attention mask, only the continuation logits projected). *naive* =
`LanguageModel.score_naive`: one full sequence per (item, choice), sorted by length and batched under the same
token budget. Speed-ups are wall-time ratios in this run.
"""
    write_section("Scoring engine", section)
    print(f"wrote {REPORT}")


COLUMNS = (
    "workload",
    "items",
    "unique tok/item",
    "e2h items/s",
    "unique tok/s",
    "% of ceiling",
    "naive items/s",
    "e2h ÷ naive",
    "lm-eval items/s",
    "e2h ÷ lm-eval",
    "max \\|Δ\\| naive",
    "max \\|Δ\\| lm-eval",
    "same argmax as lm-eval",
)
_HEADER = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def _row(r: dict) -> str:
    lm_eval = (
        f"{r['lm_eval_ips']:.3f} | **{r['lm_eval_ratio']:.1f}×** | {r['max_diff']:.1e} | {r['lm_eval_diff']:.1e} "
        f"| {r['lm_eval_argmax']:.1%}"
        if r.get("lm_eval_ips")
        else f"– | – | {r['max_diff']:.1e} | – | –"
    )
    return (
        f"| {r['workload']} | {r['n_items']} | {r['unique_per_item']:.0f} | {r['fast_ips']:.2f} "
        f"| {r['unique_tps']:.0f} | **{r['ceiling_pct']:.0f}%** | {r['naive_ips']:.3f} | {r['ratio']:.1f}× "
        f"| {lm_eval} |"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="alias, folder or hub id (default smollm2-135m)")
    parser.add_argument("--n-items", type=int, default=200, help="zero-shot items (default 200)")
    parser.add_argument("--n-icl-items", type=int, default=40, help="ICL items (default 40)")
    parser.add_argument("--k", type=int, default=10, help="ICL demonstrations (default 10)")
    parser.add_argument("--batch-tokens", type=int, default=None, help="tokens per forward (default: by device)")
    parser.add_argument("--lm-eval-python", type=Path, default=LM_EVAL_PYTHON, help="the lm-eval venv's python")
    parser.add_argument("--lm-eval-batch-size", type=int, default=16, help="lm-eval's batch size (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="a line to put in BENCHMARKS.md (e.g. machine was shared)")
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only, keep BENCHMARKS.md")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
