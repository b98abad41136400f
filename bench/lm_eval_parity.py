"""Parity with lm-evaluation-harness: zero-shot ARC accuracy of one model, computed by e2h and by lm-eval.

Both sides score the SAME items (the full ARC-Easy and ARC-Challenge test sets from ``e2h.data``)
with lm-eval's ARC prompt (``cloze``: ``"Question: {q}\\nAnswer:"`` + ``" {choice}"``):

* e2h: :class:`e2h.learners.ZeroShot` with the ``cloze`` format; ``acc`` = ``raw``, ``acc_norm`` = ``per_char``.
* lm-eval: its own ``HFLM.loglikelihood`` on ``Instance``s built from the same strings (the hub is not
  reachable, so its task loader is not used), then ``acc`` = argmax of the log-likelihoods and
  ``acc_norm`` = argmax of log-likelihood / ``len(choice)`` in characters, exactly as
  ``ConfigurableTask.process_results`` does.

lm-eval lives in a separate virtualenv, ``.venv-lmeval`` (it pins its own dependencies; a ``.pth`` file
reuses e2h's torch and transformers, so nothing large is downloaded); ``make bench`` creates it, or
``make .venv-lmeval/.installed``. This script runs itself there as a worker (``bench/scoring.py`` uses the
same worker for its lm-eval columns; ``bench/generation.py`` uses ``--generate-worker``, lm-eval's
``generate_until``).

Run (a quick check, then the full sets; both resume from their caches)::

    .venv/bin/python bench/lm_eval_parity.py --limit 20
    .venv/bin/python bench/lm_eval_parity.py > bench/lm_eval_parity.log 2>&1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CHUNK = 100  # items per scoring call; finished chunks are cached, so an interrupted run resumes
LM_EVAL_PYTHON = Path(__file__).resolve().parents[1] / ".venv-lmeval" / "bin" / "python"


def lm_eval_worker(model_dir: str, requests_file: str, results_file: str, batch_size: int) -> None:
    """Runs inside the lm-eval venv: log-likelihood of every (context, continuation), appended per chunk."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    items = [json.loads(line) for line in Path(requests_file).read_text().splitlines()]
    for item in items:  # explicit continuations (e.g. after ICL demonstrations), else lm-eval's " {choice}"
        item.setdefault("continuations", [" " + choice for choice in item.get("choices", ())])
    done = set()
    results = Path(results_file)
    if results.exists():
        done = {json.loads(line)["id"] for line in results.read_text().splitlines()}
    todo = [item for item in items if item["id"] not in done]
    print(f"lm-eval: {len(done)} items cached, {len(todo)} to score", file=sys.stderr, flush=True)
    if not todo:
        return
    start = time.perf_counter()
    lm = HFLM(pretrained=model_dir, device="cpu", dtype="float32", batch_size=batch_size)
    timing = {"load_s": time.perf_counter() - start, "score_s": 0.0}
    for begin in range(0, len(todo), CHUNK):
        chunk = todo[begin : begin + CHUNK]
        instances = [
            Instance("loglikelihood", doc=item, arguments=(item["context"], continuation), idx=j)
            for item in chunk
            for j, continuation in enumerate(item["continuations"])
        ]
        start = time.perf_counter()
        outputs = iter(lm.loglikelihood(instances, disable_tqdm=True))
        timing["score_s"] += time.perf_counter() - start
        with results.open("a") as handle:
            for item in chunk:
                lls = [float(next(outputs)[0]) for _ in item["continuations"]]
                handle.write(json.dumps({"id": item["id"], "lls": lls}) + "\n")
        print(f"lm-eval: {begin + len(chunk)}/{len(todo)} items", file=sys.stderr, flush=True)
    Path(f"{results_file}.timing.json").write_text(json.dumps(timing))  # this invocation's load and scoring time


def lm_eval_generate_worker(model_dir: str, requests_file: str, results_file: str, batch_size: int) -> None:
    """Runs inside the lm-eval venv: ``HFLM.generate_until`` on every request, texts and time to ``results_file``."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    requests = json.loads(Path(requests_file).read_text())
    lm = HFLM(
        pretrained=model_dir, device="cpu", dtype=requests["dtype"], batch_size=batch_size,
        add_bos_token=requests["add_bos_token"],
    )  # fmt: skip
    gen = {"until": requests["until"], "max_gen_toks": requests["max_gen_toks"], "do_sample": False}
    instances = [
        Instance("generate_until", doc={}, arguments=(context, dict(gen)), idx=0) for context in requests["contexts"]
    ]
    start = time.perf_counter()
    texts = lm.generate_until(instances, disable_tqdm=True)
    seconds = time.perf_counter() - start
    Path(results_file).write_text(json.dumps({"texts": texts, "seconds": seconds}))


def _lm_eval_accuracy(items, lls_by_id: dict[str, list[float]]) -> tuple[float, float]:
    """acc and acc_norm exactly as lm-eval computes them for multiple_choice tasks."""
    import numpy as np

    acc, acc_norm = [], []
    for _, item in items.iterrows():
        lls = np.array(lls_by_id[item["id"]])
        completion_len = np.array([float(len(c)) for c in item["choices"]])
        acc.append(int(np.argmax(lls)) == int(item["label"]))
        acc_norm.append(int(np.argmax(lls / completion_len)) == int(item["label"]))
    return float(np.mean(acc)), float(np.mean(acc_norm))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--python", default=str(LM_EVAL_PYTHON), help="the lm-eval venv's python")
    parser.add_argument("--limit", type=int, default=None, help="first N test items of each subset (quick check)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--work", default=None, help="folder for requests and lm-eval results (default: cache)")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from e2h.data import load_dataset
    from e2h.learners import ZeroShot
    from e2h.models import load_model
    from e2h.models.templates import build_request
    from e2h.paths import cache_dir

    lm = load_model(args.model)
    model_dir = lm.model.name_or_path  # the folder e2h loaded (the dequantized GGUF for an alias)
    work = Path(args.work) if args.work else cache_dir("bench", "lm_eval_parity", args.model)
    work.mkdir(parents=True, exist_ok=True)
    print(f"model {args.model} ({model_dir}), lm-eval python {args.python}")

    rows = []
    for subset in ("arc-easy", "arc-challenge"):
        items = load_dataset(subset)
        items = items[items["source_split"] == "test"].reset_index(drop=True)
        if args.limit:
            items = items.iloc[: args.limit]

        start = time.perf_counter()
        learner = ZeroShot(lm, format="cloze")
        preds = {"raw": [], "per_char": []}
        for begin in range(0, len(items), CHUNK):  # chunks: the engine's disk cache makes reruns resume
            chunk = items.iloc[begin : begin + CHUNK].reset_index(drop=True)
            for name, p in learner.predict_all(chunk, ("raw", "per_char")).items():
                preds[name].append(p.correct)
            print(f"e2h {subset}: {min(begin + CHUNK, len(items))}/{len(items)} items", file=sys.stderr, flush=True)
        e2h_acc = float(np.mean(np.concatenate(preds["raw"])))
        e2h_norm = float(np.mean(np.concatenate(preds["per_char"])))
        e2h_seconds = time.perf_counter() - start

        requests_file = work / f"{subset}{'-' + str(args.limit) if args.limit else ''}.requests.jsonl"
        results_file = requests_file.with_suffix("").with_suffix(".lm_eval.jsonl")
        with requests_file.open("w") as handle:
            for _, item in items.iterrows():
                request = build_request(item, "cloze")
                record = {"id": item["id"], "context": request.context, "choices": list(item["choices"])}
                handle.write(json.dumps(record) + "\n")
        start = time.perf_counter()
        worker = [args.python, __file__, "--worker", str(model_dir), str(requests_file), str(results_file)]
        subprocess.run([*worker, str(args.batch_size)], check=True)
        lm_eval_seconds = time.perf_counter() - start
        lls = {r["id"]: r["lls"] for r in map(json.loads, results_file.read_text().splitlines())}
        ref_acc, ref_norm = _lm_eval_accuracy(items, lls)

        ours = []  # the same chunks as above, so the engine's disk cache answers
        for begin in range(0, len(items), CHUNK):
            chunk = items.iloc[begin : begin + CHUNK]
            ours += lm.score([build_request(item, "cloze") for _, item in chunk.iterrows()])
        gaps = np.concatenate([s.logprob - np.array(lls[i]) for s, i in zip(ours, items["id"], strict=True)])
        rows.append(
            {
                "subset": subset,
                "n": len(items),
                "e2h acc": 100 * e2h_acc,
                "lm-eval acc": 100 * ref_acc,
                "diff acc": 100 * (e2h_acc - ref_acc),
                "e2h acc_norm": 100 * e2h_norm,
                "lm-eval acc_norm": 100 * ref_norm,
                "diff acc_norm": 100 * (e2h_norm - ref_norm),
                "max |Δ loglik|": float(np.max(np.abs(gaps))),
                "e2h s": e2h_seconds,
                "lm-eval s": lm_eval_seconds,
            }
        )
    table = pd.DataFrame(rows).set_index("subset")
    print(table.round(4).to_string())
    worst = float(table[["diff acc", "diff acc_norm"]].abs().to_numpy().max())
    print(f"largest accuracy difference: {worst:.2f} points ({'within' if worst <= 1.0 else 'OUTSIDE'} 1 point)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        lm_eval_worker(*sys.argv[2:5], batch_size=int(sys.argv[5]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--generate-worker":  # bench/generation.py's
        lm_eval_generate_worker(*sys.argv[2:5], batch_size=int(sys.argv[5]))
    else:
        main()
