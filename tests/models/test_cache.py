"""Per-request caches: overlapping request lists compute only what is missing; size cap; `e2h cache`."""

from __future__ import annotations

import time

import numpy as np
import pytest

from e2h.errors import E2HError
from e2h.models import ScoreRequest, load_model
from e2h.models.cache import ResultCache, cache_info, enforce_cap, max_bytes

DEMOS = "Q: 1+1?\nA: 2\n\n"
REQUESTS = [
    ScoreRequest(f"Q: {a}+{b}?\nA:", (f" {a + b}", f" {a * b}", " 0"), prefix=DEMOS if a % 2 else "")
    for a, b in [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7)]
]


@pytest.fixture
def lm(tmp_path, monkeypatch):
    monkeypatch.setenv("E2H_HOME", str(tmp_path))
    return load_model("tiny-random")


def _same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.logprob, y.logprob)
        np.testing.assert_array_equal(x.n_tokens, y.n_tokens)


def test_overlapping_request_lists_compute_only_the_missing_requests(lm):
    first = lm.score(REQUESTS[:4])
    assert lm.n_requests_computed == 4
    calls = lm.n_forward_calls
    superset = lm.score(REQUESTS)  # two new requests
    assert lm.n_requests_computed == 6
    assert lm.n_forward_calls > calls
    _same(superset[:4], first)
    calls = lm.n_forward_calls
    reordered = lm.score(REQUESTS[::-1])
    subset = lm.score([REQUESTS[5], REQUESTS[1]])
    assert lm.n_forward_calls == calls and lm.n_requests_computed == 6
    _same(reordered[::-1], superset)
    _same(subset, [superset[5], superset[1]])
    fresh = lm.score(REQUESTS, cache=False)  # the cached values are what a new pass gives
    assert max(float(np.abs(a.logprob - b.logprob).max()) for a, b in zip(fresh, superset, strict=True)) < 1e-5


def test_duplicates_in_one_list_are_computed_once(lm):
    scores = lm.score([REQUESTS[0], REQUESTS[1], REQUESTS[0]], cache=False)
    assert lm.n_requests_computed == 2
    _same([scores[0]], [scores[2]])


def test_hidden_states_overlap_and_reorder(lm):
    first = lm.hidden_states(REQUESTS[:3])
    calls = lm.n_forward_calls
    later = lm.hidden_states(REQUESTS[2::-1])
    assert lm.n_forward_calls == calls
    for a, b in zip(first, later[::-1], strict=True):
        np.testing.assert_array_equal(a, b)
    lm.hidden_states(REQUESTS[:5])
    assert lm.n_requests_computed == 5


def test_generations_are_cached_per_prompt_and_settings(lm):
    prompts = ["Q: 2+2?\nA:", "Hello", "Q: 3+3?\nA:"]
    first = lm.generate(prompts[:2], max_new_tokens=4)
    calls = lm.n_forward_calls
    assert lm.generate(prompts[1::-1], max_new_tokens=4) == first[::-1]
    assert lm.n_forward_calls == calls
    lm.generate(prompts, max_new_tokens=4)
    assert lm.n_requests_computed == 3
    lm.generate(prompts[:1], max_new_tokens=5)  # other settings: another entry
    assert lm.n_requests_computed == 4


def _interrupt_after(lm, monkeypatch, n_calls: int, work) -> None:
    """Run ``work()`` with the model's forward interrupted (KeyboardInterrupt) after ``n_calls`` calls."""
    forward, calls = lm.forward, []

    def failing(**kwargs):
        calls.append(1)
        if len(calls) > n_calls:
            raise KeyboardInterrupt
        return forward(**kwargs)

    monkeypatch.setattr(lm, "forward", failing)
    with pytest.raises(KeyboardInterrupt):
        work()
    monkeypatch.setattr(lm, "forward", forward)


def test_an_interrupted_generation_keeps_what_it_finished(lm, monkeypatch):
    from e2h.models import engine

    prompts = [f"Q: {a}+{a}?\nA:" + " " * a for a in range(12)]
    monkeypatch.setattr(engine, "_GENERATE_BATCH", 2)  # two slots; finished texts are stored two by two
    _interrupt_after(lm, monkeypatch, 14, lambda: lm.generate(prompts, max_new_tokens=4, stop=()))
    stored = lm.n_requests_computed
    assert lm.generate(prompts, max_new_tokens=4, stop=()) == lm.generate(
        prompts, max_new_tokens=4, stop=(), cache=False
    )
    assert 4 <= lm.n_requests_computed - stored - len(prompts) < len(prompts)  # only the unfinished ones again


@pytest.mark.parametrize("store_every", [4, 1000])  # stored four at a time; only when interrupted
def test_an_interrupted_scoring_pass_keeps_what_it_finished(lm, monkeypatch, store_every):
    from e2h.models import engine

    requests = [ScoreRequest(f"Q: {a}+{a}?\nA:", (f" {2 * a}", " 0")) for a in range(30)]
    monkeypatch.setattr(engine, "_STORE_EVERY", store_every)
    monkeypatch.setattr(lm, "batch_tokens", 24)  # a few requests per packed row: many rows
    _interrupt_after(lm, monkeypatch, 6, lambda: lm.hidden_states(requests))
    stored = lm.n_requests_computed
    assert stored >= 4
    again = lm.hidden_states(requests)
    assert 0 < lm.n_requests_computed - stored <= len(requests) - 4  # only what was not stored, again
    fresh = lm.hidden_states(requests, cache=False)
    for a, b in zip(again, fresh, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    _same(lm.score(requests), lm.score(requests, cache=False))  # the hidden-state pass stored their scores too


def test_size_cap_evicts_the_least_recently_used(tmp_path, monkeypatch):
    monkeypatch.setenv("E2H_HOME", str(tmp_path))
    store = ResultCache("hidden", "m")
    blob = bytes(200_000)
    store.put({"old": blob})
    time.sleep(0.01)
    store.put({"new": blob})
    time.sleep(0.01)
    assert set(store.get(["old"])) == {"old"}  # reading marks "old" as recently used
    (info,) = cache_info()
    assert info.entries == 2
    assert enforce_cap(limit=info.bytes - 1) > 0
    assert set(store.get(["old", "new"])) == {"old"}
    monkeypatch.setenv("E2H_CACHE_MAX_GB", "0.0001")  # 100 kB: every put evicts down to 80 kB
    store.put({"third": blob})
    assert cache_info()[0].entries <= 1


def test_bad_cap_setting_is_one_line(monkeypatch):
    monkeypatch.setenv("E2H_CACHE_MAX_GB", "lots")
    with pytest.raises(E2HError, match="E2H_CACHE_MAX_GB='lots'"):
        max_bytes()


def _run(argv, e2h_cli) -> tuple[int, str]:
    code, out, err = e2h_cli(argv)
    return code, out + err


def test_cache_info_and_clear_commands(lm, e2h_cli):
    lm.score(REQUESTS[:2])
    lm.hidden_states(REQUESTS[:2])
    code, out = _run(["cache", "info"], e2h_cli)
    assert code == 0 and "scores" in out and "hidden" in out and "tiny-random" in out
    code, out = _run(["cache", "clear", "--kind", "hidden"], e2h_cli)
    assert code == 0 and "removed 1 cache file(s)" in out
    assert [info.kind for info in cache_info()] == ["scores"]
    code, out = _run(["cache", "clear", "--kind", "hiden"], e2h_cli)
    assert code == 2 and "unknown cache kind 'hiden'" in out
    code, out = _run(["cache", "clear", "--model", "tiny-random"], e2h_cli)
    assert code == 0 and cache_info() == []
    calls = lm.n_forward_calls
    lm.score(REQUESTS[:2])
    assert lm.n_forward_calls > calls  # recomputed after clearing


def test_exported_results_imported_into_a_fresh_cache_are_not_recomputed(lm, e2h_cli, tmp_path, monkeypatch):
    scores = lm.score(REQUESTS[:4])
    lm.hidden_states(REQUESTS[:2])
    exported = tmp_path / "shipped" / "results.sqlite"
    code, out = _run(["cache", "export", str(exported), "--kind", "scores"], e2h_cli)
    assert code == 0 and "wrote 4 results" in out
    monkeypatch.setenv("E2H_HOME", str(tmp_path / "elsewhere"))  # a fresh checkout or another machine
    code, out = _run(["cache", "import", str(exported)], e2h_cli)
    assert code == 0 and "scores / tiny-random: 4 new results" in out
    assert [(info.kind, info.entries) for info in cache_info()] == [("scores", 4)]
    calls, computed = lm.n_forward_calls, lm.n_requests_computed
    _same(lm.score(REQUESTS[:4]), scores)
    assert lm.n_forward_calls == calls  # nothing computed
    lm.score(REQUESTS)  # the rest is computed as usual
    assert lm.n_requests_computed == computed + 2
    code, out = _run(["cache", "import", str(exported)], e2h_cli)
    assert code == 0 and "4 new results" not in out and ": 0 new results" in out  # a second import adds nothing


def test_export_and_import_errors_are_one_line(lm, e2h_cli, tmp_path):
    code, out = _run(["cache", "export", str(tmp_path / "x.sqlite")], e2h_cli)
    assert code == 2 and "no cached results" in out and not (tmp_path / "x.sqlite").exists()
    code, out = _run(["cache", "import", str(tmp_path / "missing.sqlite")], e2h_cli)
    assert code == 2 and "no such file" in out
    (tmp_path / "junk.sqlite").write_text("not a database")
    code, out = _run(["cache", "import", str(tmp_path / "junk.sqlite")], e2h_cli)
    assert code == 2 and "not a file written by `e2h cache export`" in out and "Traceback" not in out


def test_prefetch_runs_one_forward_per_row_for_scores_and_states(lm):
    from e2h.models.packing import pack

    groups = pack(lm.encode(REQUESTS), lm.batch_tokens)
    rows, heads = sum(len(r) for _, r in groups), sum(1 for head, _ in groups if head)
    assert lm.prefetch(REQUESTS, layers=None) == len(REQUESTS)
    assert lm.n_forward_calls == rows + heads  # one forward per packed row (and one per shared head)
    calls = lm.n_forward_calls
    scores, states = lm.score(REQUESTS), lm.hidden_states(REQUESTS)
    assert lm.n_forward_calls == calls  # both served by the one pass
    assert lm.prefetch(REQUESTS, layers=None) == 0
    separate_scores, separate_states = lm.score(REQUESTS, cache=False), lm.hidden_states(REQUESTS, cache=False)
    assert lm.n_forward_calls == calls + 2 * rows  # the separate paths: two forwards per row
    for a, b in zip(scores, separate_scores, strict=True):
        np.testing.assert_allclose(a.logprob, b.logprob, atol=1e-4)
        np.testing.assert_array_equal(a.n_tokens, b.n_tokens)
    for a, b in zip(states, separate_states, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_hidden_states_store_the_scores_of_their_pass(lm):
    lm.hidden_states(REQUESTS, layers=[1])
    calls = lm.n_forward_calls
    lm.score(REQUESTS)
    assert lm.n_forward_calls == calls


def test_prefetch_without_a_cache_does_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("E2H_HOME", str(tmp_path))
    lm = load_model("tiny-random", cache=False)
    assert lm.prefetch(REQUESTS, layers=None) == 0 and lm.n_forward_calls == 0
    with pytest.raises(E2HError, match="out of range"):
        load_model("tiny-random").prefetch(REQUESTS, layers=[9])
