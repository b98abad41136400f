"""The built-in models side by side: load time, peak memory, scoring throughput and % of the matmul ceiling.

    .venv/bin/python bench/models.py                      # the three aliases, 50 ARC-Challenge test items
    .venv/bin/python bench/models.py --accuracy           # + zero-shot accuracy on the full test split
    .venv/bin/python bench/models.py --models smollm2-135m-instruct --n-items 20

Each model runs in its own process, so its load time and peak RSS are its own (a first load also
converts the GGUF; the table says so); ``--threads`` sets torch's thread count there (on a machine
shared with other jobs one thread can beat two, whose barriers wait on each other).

Throughput: ``lm.score(requests, cache=False)`` on the first ``--n-items`` ARC-Challenge test items
in the ``cloze`` format, after a two-item warm-up. Tokens are those each request adds: its context
once plus every continuation. FLOPs: each of those tokens goes through every weight outside the
embedding table and the output head (2 FLOPs per weight), and the head runs only where a
continuation's log-probability is read (the engine keeps only those logits); attention's own
quadratic term is left out (short sequences). The ceiling is this machine's best square matmul rate
in the model's dtype (:func:`e2h.models.cpu.matmul_ceiling`), measured in the same process just
before the timed scoring, so both see the same load from other processes.

Accuracy (``--accuracy``): cloze, raw summed log-prob argmax, every ``source_split == "test"`` item;
a model whose estimated time exceeds ``--max-accuracy-minutes`` is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np

MODELS = ("smollm2-135m-instruct", "gemma3-270m", "qwen2.5-coder-1.5b")
_RESULT = "RESULT "


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.worker:
        print(_RESULT + json.dumps(_run_one(args)), flush=True)
        return
    import torch

    from e2h.models.cpu import cpu_capability, cpu_name

    threads = args.threads or torch.get_num_threads()
    print(f"CPU: {cpu_name()} ({cpu_capability()}, {threads} threads)", flush=True)
    rows = [_spawn(name, args) for name in args.models]
    print(_table(rows, args))
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


def _spawn(name: str, args: argparse.Namespace) -> dict:
    """Run one model in a fresh process; its last stdout line carries the result."""
    cmd = [sys.executable, __file__, "--worker", "--models", name, "--n-items", str(args.n_items)]
    cmd += ["--max-accuracy-minutes", str(args.max_accuracy_minutes)] + (["--accuracy"] if args.accuracy else [])
    cmd += ["--threads", str(args.threads)] if args.threads else []
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(next(line for line in reversed(done.stdout.splitlines()) if line.startswith(_RESULT))[7:])


def _run_one(args: argparse.Namespace) -> dict:
    import torch

    from e2h.data import load_dataset
    from e2h.models import MODELS as ALIASES
    from e2h.models import load_model
    from e2h.models.cpu import matmul_ceiling
    from e2h.models.templates import build_request
    from e2h.paths import cache_dir
    from e2h.progress import set_quiet

    set_quiet(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.models[0]
    converted = (cache_dir("models") / ALIASES.get(name).cache_key / "e2h-model.json").is_file()
    start = time.perf_counter()
    lm = load_model(name, cache=False)
    load_s = time.perf_counter() - start
    with warnings.catch_warnings():  # no human measures needed here
        warnings.simplefilter("ignore")
        items = load_dataset("arc-challenge")
    test = items[items["source_split"] == "test"]
    requests = [build_request(row, "cloze") for _, row in test.iterrows()]
    bench = requests[: args.n_items]
    lm.score(requests[-2:], cache=False)  # warm-up (allocator, kernels), not timed
    dtype = str(lm.dtype).removeprefix("torch.")
    ceiling = matmul_ceiling(refresh=True)[dtype if dtype in ("float32", "bfloat16") else "float32"]
    start = time.perf_counter()
    lm.score(bench, cache=False)
    score_s = time.perf_counter() - start
    context = sum(lm.count_tokens(r.context) for r in bench)
    scored = sum(lm.count_tokens(c) for r in bench for c in r.continuations)
    body, head = _matmul_weights(lm.model)
    row = {
        "model": lm.name,
        "dtype": dtype,
        "ceiling_gflops": ceiling,
        "params": sum(p.numel() for p in lm.model.parameters()),
        "converted_before": converted,
        "load_s": load_s,
        "n_items": len(bench),
        "score_s": score_s,
        "tokens": context + scored,
        "flops": 2 * body * (context + scored) + 2 * head * scored,
    }
    if args.accuracy:
        row.update(_accuracy(lm, test, requests, len(bench) / score_s, args.max_accuracy_minutes))
    row["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return row


def _matmul_weights(model) -> tuple[int, int]:
    """(weights every token meets, weights of the output head): the embedding lookup is no matmul."""
    embedding = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    total = sum(p.numel() for p in model.parameters())
    tied = head.data_ptr() == embedding.data_ptr()
    return total - embedding.numel() - (0 if tied else head.numel()), head.numel()


def _accuracy(lm, test, requests, items_per_s: float, max_minutes: float) -> dict:
    estimate_min = len(requests) / items_per_s / 60
    if estimate_min > max_minutes:
        return {"accuracy": None, "accuracy_note": f"skipped (~{estimate_min:.0f} min > {max_minutes:g})"}
    start = time.perf_counter()
    scores = lm.score(requests, cache=False)
    pred = np.array([int(np.argmax(s.logprob)) for s in scores])
    correct = pred == test["label"].to_numpy(dtype=int)
    return {"accuracy": float(correct.mean()), "accuracy_n": len(correct), "accuracy_s": time.perf_counter() - start}


def _table(rows: list[dict], args: argparse.Namespace) -> str:
    head = "| model | params | dtype | load s | peak RSS GiB | items/s | tokens/s | GFLOP/s | ceiling GFLOP/s | % |"
    head += " ARC-Challenge acc (cloze, test) |" if args.accuracy else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        gflops = r["flops"] / r["score_s"] / 1e9
        load = f"{r['load_s']:.1f}" + ("" if r["converted_before"] else " (first: converts)")
        cells = [
            r["model"],
            f"{r['params'] / 1e6:.0f}M",
            r["dtype"],
            load,
            f"{r['peak_rss_gib']:.2f}",
            f"{r['n_items'] / r['score_s']:.2f}",
            f"{r['tokens'] / r['score_s']:.0f}",
            f"{gflops:.1f}",
            f"{r['ceiling_gflops']:.1f}",
            f"{100 * gflops / r['ceiling_gflops']:.0f}%",
        ]
        if args.accuracy:
            acc = r.get("accuracy")
            cells.append(f"{100 * acc:.1f}% (n={r['accuracy_n']})" if acc is not None else r["accuracy_note"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="aliases, folders or hub ids")
    parser.add_argument("--n-items", type=int, default=50, help="ARC-Challenge test items timed (default 50)")
    parser.add_argument("--accuracy", action="store_true", help="also score the full ARC-Challenge test split")
    parser.add_argument("--max-accuracy-minutes", type=float, default=20.0, help="skip accuracy beyond this")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
