"""The results store end to end (tiny models, a toy CSV): what a real run writes is what analysis reads, and one
dtype per run, kept on resume."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

import e2h.experiments.worker as worker
from e2h.analysis import load_manifest, write_report
from e2h.analysis.plots_curves import model_parameters
from e2h.errors import ConfigError
from e2h.experiments import RunStore, run_experiment
from e2h.models.tiny import save_tiny_model, tiny_llama
from e2h.results_format import manifest_cells


@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Two tiny random models of different widths, as local folders: folder → its parameter count."""
    root = tmp_path_factory.mktemp("models")
    sizes = {}
    for name, width in (("narrow", 32), ("wide", 64)):
        folder = save_tiny_model(root / name, hidden_size=width)
        sizes[str(folder)] = sum(p.numel() for p in tiny_llama(hidden_size=width).parameters())
    return sizes


def test_a_two_model_run_reads_back_with_the_measured_sizes(make_config, two_sizes: dict[str, int]):
    """The size axis of the accuracy-vs-size figure is each model's parameter count, as the run measured it."""
    narrow, wide = two_sizes
    config = make_config(name="sizes", models=[narrow, wide], seeds=1)
    result = run_experiment(config)
    assert result.ok

    manifest = load_manifest(result.run_dir)
    assert model_parameters(manifest, [narrow, wide]) == two_sizes
    md = write_report(result.run_dir, n_boot=50).markdown.read_text(encoding="utf-8")
    caption = f"by model ({narrow} {two_sizes[narrow] / 1e3:.3g}k, {wide} {two_sizes[wide] / 1e3:.3g}k parameters)"
    assert caption in md
    assert len(list((result.run_dir / "report").glob("size_*.png"))) == 1


def test_a_rerun_with_nothing_to_compute_keeps_the_model_facts(make_config, two_sizes: dict[str, int]):
    config = make_config(name="again", models=list(two_sizes), seeds=1, learners=["zero-shot"])
    run_experiment(config)
    again = run_experiment(config)
    assert again.executed == [] and model_parameters(load_manifest(again.run_dir), list(two_sizes)) == two_sizes


@pytest.fixture
def cpu_picks(monkeypatch):
    """``cpu_picks(dtype)``: from now on ``dtype: auto`` picks ``dtype`` on this "CPU" (no E2H_DTYPE set)."""
    from e2h.models import cpu

    monkeypatch.delenv("E2H_DTYPE")

    def pick(dtype: str) -> None:
        report = {"device": "cpu", "dtype": dtype, "reason": f"this CPU prefers {dtype}"}
        monkeypatch.setattr(cpu, "dtype_report", lambda device="cpu": report)

    return pick


@pytest.fixture
def fail_once(monkeypatch):
    """The next run's second cell fails (so that a later run resumes it)."""
    real, calls = worker.run_cell, []

    def run_cell(cell, lm, data):
        calls.append(cell.cell_id)
        if len(calls) == 2:
            raise RuntimeError("lost")
        return real(cell, lm, data)

    monkeypatch.setattr(worker, "run_cell", run_cell)
    return calls


def _manifest(config) -> dict:
    return json.loads(RunStore.for_config(config).manifest_path.read_text())


def test_a_resumed_run_keeps_its_dtype_on_a_cpu_that_would_pick_another(make_config, cpu_picks, fail_once):
    config = make_config(seeds=1)
    cpu_picks("bfloat16")
    first = run_experiment(config)
    assert len(first.failures) == 1
    manifest = _manifest(config)
    assert (manifest["dtype"], manifest["dtype_source"]) == ("bfloat16", "auto on cpu: this CPU prefers bfloat16")
    assert {c.dtype for c in manifest_cells(manifest) if c.status == "done"} == {"bfloat16"}

    cpu_picks("float32")  # the same run folder, resumed on another machine
    resumed = run_experiment(config)
    assert resumed.ok and resumed.executed == [first.failures[0][0].cell_id]
    manifest = _manifest(config)
    assert manifest["dtype"] == "bfloat16" and manifest["models"]["tiny-random"]["dtype"] == "bfloat16"
    assert {c.dtype for c in manifest_cells(manifest)} == {"bfloat16"}


def test_another_explicit_dtype_for_finished_cells_is_one_line_before_any_model_loads(
    make_config, cpu_picks, monkeypatch
):
    cpu_picks("bfloat16")
    run_experiment(make_config(seeds=1, learners=["zero-shot"]))

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("e2h.models.load_model", no_model)
    more = make_config(seeds=2, learners=["zero-shot"])  # a new seed: new cells beside the finished one
    monkeypatch.setenv("E2H_DTYPE", "float32")
    with pytest.raises(ConfigError) as info:
        run_experiment(more)
    message = str(info.value)
    assert message.startswith("config toy.yaml: run 'toy' has finished cells in bfloat16, but E2H_DTYPE asks for ")
    assert "float32" in message and "--force" in message and "\n" not in message
    monkeypatch.delenv("E2H_DTYPE")
    with pytest.raises(ConfigError, match="but the config's dtype asks for float32"):
        run_experiment(make_config(seeds=2, learners=["zero-shot"], dtype="float32"))
    assert _manifest(more)["config"]["seeds"] == [0]  # nothing was opened


def test_force_recomputes_in_the_dtype_asked_for(make_config, cpu_picks):
    cpu_picks("bfloat16")
    config = make_config(seeds=1, learners=["zero-shot"])
    run_experiment(config)
    forced = run_experiment(make_config(seeds=1, learners=["zero-shot"], dtype="float32"), force=True)
    manifest = _manifest(config)
    assert len(forced.executed) == 1 and manifest["dtype"] == "float32"
    assert manifest["models"]["tiny-random"]["dtype"] == "float32"


def test_cells_brought_back_from_stale_keep_their_dtype(make_config, cpu_picks):
    cpu_picks("bfloat16")
    first = make_config(seeds=1, learners=["zero-shot"])
    run_experiment(first)
    cpu_picks("float32")
    other = make_config(seeds=1, learners=["zero-shot"], n_test=4)  # other cells: the first ones move to stale/
    run_experiment(other)
    assert _manifest(other)["dtype"] == "float32"
    back = run_experiment(first)  # the first config again, its cells back from stale/
    assert back.executed == [] and _manifest(first)["dtype"] == "bfloat16"


def test_every_backend_gets_the_runs_dtype(make_config, cpu_picks):
    class Spy:
        dtypes: ClassVar[list] = []

        def run(self, config, data, cells, recorder):
            self.dtypes.append(config.dtype)

    cpu_picks("bfloat16")
    config = make_config(seeds=1, learners=["zero-shot"])
    run_experiment(config)
    cpu_picks("float32")
    run_experiment(config, backend=Spy(), force=False)
    run_experiment(make_config(seeds=1, learners=["zero-shot"], name="fresh"), backend=Spy())
    assert Spy.dtypes == ["bfloat16", "float32"]  # what a Ray worker is told to load, whatever its CPU picks
