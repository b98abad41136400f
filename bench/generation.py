"""Generation speed: e2h's decoder against Hugging Face ``generate`` and lm-evaluation-harness, same run, same prompts.

    make bench                                                   # after bench/scoring.py, with defaults
    .venv/bin/python bench/generation.py --n-prompts 8 --no-write  # a quick look

The workload is the ``icl-cot`` learner's on GSM8k: ``k`` chain-of-thought demonstrations (the
``cot`` format) shared by every prompt, greedy decoding of at most ``--max-new-tokens`` tokens, ended
by the learner's rule (a stop string, or the end of the line that says "the answer is"). Measured
in one run, on the same token ids:

* *prefill*: a plain forward of each prompt's whole ids (one prompt per forward, no cache): the
  rate at which this model reads prompt tokens on this machine, the yardstick for decoding;
* *e2h*: ``LanguageModel.generate`` (the demonstrations' KV computed once and shared, continuous
  batching in ``--slots`` slots, stopped per the rule), its caches off: prompts/s, generated
  tokens/s and that rate as a share of the prefill rate; also the rate of the decoding steps alone;
* *HF*: ``model.generate`` (greedy, one prompt at a time, stopped by the same rule through a
  ``StoppingCriteria``): the plain path. Its text must equal e2h's on every prompt (in float32);
* *lm-eval*: lm-evaluation-harness's ``HFLM.generate_until`` (``until`` = the stop strings,
  ``max_gen_toks``, batch size ``--slots``) in its own virtualenv. It has no answer-line rule, so it
  decodes on to a stop string; its text is cut by e2h's rule before it is compared.

``--profile`` adds the top operators of e2h's generation by self CPU time (``torch.profiler``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import LM_EVAL_PYTHON, LM_EVAL_WORKER, machine, write_section

from e2h.data import load_dataset
from e2h.learners.prompting import ANSWER_LINE, STOP
from e2h.models import engine, load_model
from e2h.models.generation import cut, eos_ids
from e2h.models.templates import cot_prompt, format_demos
from e2h.progress import set_quiet
from e2h.seeding import make_rng

TITLE = "Generation engine"


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    set_quiet(True)
    torch.manual_seed(0)
    lm = load_model(args.model, dtype=args.dtype)
    prompts = _prompts(args)
    ids = [lm.bos + t for t in lm.tokenize_many(prompts)]
    print(f"{lm.name} ({lm.dtype}): {len(prompts)} prompts of {np.mean([len(i) for i in ids]):.0f} tokens on average")

    prefill = _prefill(lm, ids[: args.prefill_prompts])
    print(f"prefill: {prefill['tokens_per_s']:.0f} tokens/s over {prefill['prompts']} prompts")
    fast = _e2h(lm, prompts, args)
    print(
        f"e2h: {fast['prompts_per_s']:.3f} prompts/s, {fast['tokens_per_s']:.0f} generated tokens/s "
        f"({fast['tokens_per_s'] / prefill['tokens_per_s']:.0%} of prefill; decoding steps alone "
        f"{fast['decode_tokens_per_s']:.0f} tokens/s), peak RSS {fast['peak_rss_gb']:.1f} GB"
    )
    for rows, (n, median) in fast["steps"].items():
        print(f"  {n} decoding steps of {rows} rows: {1000 * median:.0f} ms each (median), {rows / median:.0f} tok/s")
    plain = _hf(lm, ids, args) if args.hf else None
    if plain is not None:
        same = _same(fast["texts"], plain["texts"])
        print(f"HF generate: {plain['prompts_per_s']:.3f} prompts/s; identical text {same:.0%}")
    lm_eval = _lm_eval(lm, prompts, args) if args.lm_eval and args.lm_eval_python.exists() else None
    if lm_eval is not None:
        same = _same(fast["texts"], lm_eval["texts"])
        print(f"lm-eval generate_until: {lm_eval['prompts_per_s']:.3f} prompts/s; identical text {same:.0%}")
    if args.profile:
        print(_profile(lm, prompts[: args.slots], args))
    if args.write:
        _write(lm, prompts, prefill, fast, plain, lm_eval, args, argv if argv is not None else sys.argv[1:])


def _prompts(args: argparse.Namespace) -> list[str]:
    """``n_prompts`` GSM8k questions after ``k`` chain-of-thought demonstrations from other items (seeded)."""
    items = load_dataset("gsm8k")
    order = make_rng(args.seed, "bench", "generation").permutation(len(items))
    demos = format_demos([row for _, row in items.iloc[order[-args.k :]].iterrows()], "cot")
    return [cot_prompt(row, demos) for _, row in items.iloc[order[: args.n_prompts]].iterrows()]


def _prefill(lm, ids: list[list[int]]) -> dict:
    """Prompt tokens per second of a plain forward, one whole prompt per call (no cache kept)."""
    with torch.inference_mode():
        lm.model(input_ids=torch.tensor([ids[0]]), use_cache=False, logits_to_keep=1)  # warm-up
        start = time.perf_counter()
        for row in ids:
            lm.model(input_ids=torch.tensor([row]), use_cache=False, logits_to_keep=1)
        seconds = time.perf_counter() - start
    tokens = sum(len(row) for row in ids)
    return {"prompts": len(ids), "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def _e2h(lm, prompts: list[str], args: argparse.Namespace) -> dict:
    """``LanguageModel.generate`` with its caches off; the decoding steps' time from the engine's forward calls."""
    steps: dict[int, list[float]] = {}  # rows in the batch -> seconds of each decoding step
    forward = lm.forward

    def timed(**kwargs):
        start = time.perf_counter()
        out = forward(**kwargs)
        rows, width = kwargs["input_ids"].shape
        if width == 1:
            steps.setdefault(rows, []).append(time.perf_counter() - start)
        return out

    lm.clear_memory()
    lm.forward = timed
    before = lm.n_generated_tokens
    start = time.perf_counter()
    try:
        texts = _generate(lm, prompts, args)
    finally:
        del lm.forward
    seconds = time.perf_counter() - start
    tokens = lm.n_generated_tokens - before
    decode_s = sum(sum(times) for times in steps.values())
    return {
        "steps": {rows: (len(times), float(np.median(times))) for rows, times in sorted(steps.items(), reverse=True)},
        "texts": texts,
        "seconds": seconds,
        "tokens": tokens,
        "prompts_per_s": len(prompts) / seconds,
        "tokens_per_s": tokens / seconds,
        "decode_tokens_per_s": tokens / decode_s if decode_s else float("nan"),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def _generate(lm, prompts: list[str], args: argparse.Namespace) -> list[str]:
    slots, engine._GENERATE_BATCH = engine._GENERATE_BATCH, args.slots
    try:
        return lm.generate(prompts, max_new_tokens=args.max_new_tokens, stop=STOP, line_after=ANSWER_LINE, cache=False)
    finally:
        engine._GENERATE_BATCH = slots


def _hf(lm, ids: list[list[int]], args: argparse.Namespace) -> dict:
    """Hugging Face ``generate``, greedy, one prompt at a time, stopped by the same rule."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class RuleStop(StoppingCriteria):
        def __init__(self, width: int) -> None:
            self.width = width

        def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
            text = lm.tokenizer.decode(input_ids[0, self.width :], skip_special_tokens=True)
            return torch.tensor([cut(text, STOP, ANSWER_LINE)[1]])

    eos = sorted(eos_ids(lm.model, lm.tokenizer))
    texts = []
    start = time.perf_counter()
    with torch.inference_mode():
        for row in ids:
            out = lm.model.generate(
                input_ids=torch.tensor([row]), attention_mask=torch.ones(1, len(row), dtype=torch.long),
                max_new_tokens=args.max_new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=lm.pad_id,
                stopping_criteria=StoppingCriteriaList([RuleStop(len(row))]),
            )  # fmt: skip
            texts.append(cut(lm.tokenizer.decode(out[0, len(row) :], skip_special_tokens=True), STOP, ANSWER_LINE)[0])
    seconds = time.perf_counter() - start
    return {"texts": texts, "seconds": seconds, "prompts_per_s": len(ids) / seconds}


def _lm_eval(lm, prompts: list[str], args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        requests, results = Path(tmp) / "requests.json", Path(tmp) / "results.json"
        requests.write_text(
            json.dumps(
                {
                    "contexts": prompts,
                    "until": list(STOP),
                    "max_gen_toks": args.max_new_tokens,
                    "dtype": str(lm.dtype).removeprefix("torch."),
                    "add_bos_token": bool(lm.bos),
                }
            )
        )
        worker = [str(args.lm_eval_python), str(LM_EVAL_WORKER), "--generate-worker", lm.model.name_or_path]
        subprocess.run([*worker, str(requests), str(results), str(args.slots)], check=True)
        found = json.loads(results.read_text())
    texts = [cut(text, STOP, ANSWER_LINE)[0] for text in found["texts"]]
    return {"texts": texts, "seconds": found["seconds"], "prompts_per_s": len(prompts) / found["seconds"]}


def _profile(lm, prompts: list[str], args: argparse.Namespace) -> str:
    """The top operators of one e2h generation by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    lm.clear_memory()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _generate(lm, prompts, args)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile_rows)


def _same(ours: list[str], theirs: list[str]) -> float:
    return float(np.mean([a == b for a, b in zip(ours, theirs, strict=True)]))


def _write(lm, prompts, prefill, fast, plain, lm_eval, args, argv: list[str]) -> None:
    def ref(name: str, r: dict | None) -> str:
        if r is None:
            return f"| {name} | – | – | – | – |"
        return (
            f"| {name} | {r['prompts_per_s']:.3f} | {r['seconds']:.1f} | **{r['seconds'] / fast['seconds']:.1f}×** "
            f"| {_same(fast['texts'], r['texts']):.0%} |"
        )

    share = fast["tokens_per_s"] / prefill["tokens_per_s"]
    prefill_rate = f"{prefill['tokens_per_s']:.0f} (prompt tokens)"
    e2h_row = (
        f"| **e2h** `generate` | **{fast['prompts_per_s']:.3f}** | **{fast['tokens_per_s']:.0f}** | **{share:.0%}** "
        f"| {fast['decode_tokens_per_s']:.0f} tokens/s | {fast['peak_rss_gb']:.1f} GB |"
    )
    steps = "\n".join(
        f"| {rows} | {n} | {1000 * median:.0f} | {rows / median:.0f} | {rows / median / prefill['tokens_per_s']:.0%} |"
        for rows, (n, median) in fast["steps"].items()
    )
    section = f"""## {TITLE}, {lm.name}: e2h vs Hugging Face `generate` vs lm-evaluation-harness (`bench/generation.py`)

Command: `{shlex.join([".venv/bin/python", "bench/generation.py", *argv])}`.
Date: {datetime.date.today().isoformat()}. Machine: {machine()}.
Model: {lm.name} ({lm.dtype}). Workload: {len(prompts)} GSM8k questions after k={args.k} chain-of-thought
demonstrations (the `icl-cot` prompt, {np.mean([lm.count_tokens(p) for p in prompts]):.0f} tokens on average),
greedy, at most {args.max_new_tokens} new tokens, ended by the `icl-cot` rule; e2h decodes in {args.slots} slots.

| path | prompts/s | generated tokens/s | % of prefill | decoding steps alone | peak RSS |
|---|---:|---:|---:|---:|---:|
| prefill (a plain forward of each of {prefill["prompts"]} prompts) | – | {prefill_rate} | 100% | – | – |
{e2h_row}

{fast["tokens"]} tokens generated ({fast["tokens"] / len(prompts):.0f} per prompt) in {fast["seconds"]:.1f} s. Decoding
steps by the rows in the batch (a batch shrinks as its sequences finish):

| rows | steps | ms per step (median) | tokens/s | % of prefill |
|---:|---:|---:|---:|---:|
{steps}

| reference | prompts/s | seconds | e2h's speed-up | identical text |
|---|---:|---:|---:|---:|
{ref("HF `generate` (greedy, one prompt at a time, same stop rule)", plain)}
{ref(f"lm-eval 0.4.13 `generate_until` (batch {args.slots})", lm_eval)}

*% of prefill* = e2h's generated tokens per second of its whole `generate` call (prompt prefill included) ÷
the prefill rate. *decoding steps alone*: generated tokens ÷ the time in one-token forwards. lm-eval has no
answer-line rule: it decodes on to a stop string or the cap, and its text is cut by e2h's rule before comparing.
Peak RSS is the benchmark process's (the model, its caches and every path above).
"""
    write_section(f"{TITLE}, {lm.name}", section)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="alias, folder or hub id (default smollm2-135m)")
    parser.add_argument("--dtype", default="float32", help="float32 (default: the identity check), bfloat16, auto")
    parser.add_argument("--n-prompts", type=int, default=32, help="GSM8k prompts (default 32)")
    parser.add_argument(
        "--prefill-prompts", type=int, default=None, help="prompts the prefill rate is measured on (default: all)"
    )
    parser.add_argument("--k", type=int, default=8, help="chain-of-thought demonstrations (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="generation length cap (default 256)")
    parser.add_argument("--slots", type=int, default=32, help="e2h's batch and lm-eval's batch size (default 32)")
    parser.add_argument("--no-hf", dest="hf", action="store_false", help="skip the HF generate reference")
    parser.add_argument("--no-lm-eval", dest="lm_eval", action="store_false", help="skip lm-eval's generate_until")
    parser.add_argument("--lm-eval-python", type=Path, default=LM_EVAL_PYTHON, help="the lm-eval venv's python")
    parser.add_argument("--profile", action="store_true", help="print the top operators of e2h's generation")
    parser.add_argument("--profile-rows", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only, keep BENCHMARKS.md")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
