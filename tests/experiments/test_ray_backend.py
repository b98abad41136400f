"""The Ray backend on a local Ray cluster (2 CPUs, no dashboard) with the tiny model and ``configs/smoke.yaml``:
the same Parquet rows as the local runner, the same shared prefetch (forward tokens), a worker killed mid-cell,
Ctrl-C, and resume across backends.

One cluster serves the module; each Ray run starts its workers afresh (process start + model load), so the runs
here are few. The module has an engine cache of its own, emptied before each run whose forward work is counted.
The resource rules, the shares of work and the error messages are checked without a cluster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest
import yaml

import e2h.experiments.worker as worker
from e2h.errors import ConfigError, E2HError
from e2h.experiments import RunStore, expand, parse_config, run_experiment
from e2h.experiments.ray_backend import cell_resources, model_billions, share_work
from e2h.learners import LEARNERS, Param, ZeroShot

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TIMINGS = ["fit_seconds", "predict_seconds"]
NO_RAY = "ray is not installed (pip install 'e2h[ray]')"
ray_installed = importlib.util.find_spec("ray") is not None


class KillWorker(ZeroShot):
    """Zero-shot, except that while ``tokens`` (a folder) holds a file, ``predict`` takes one and kills its process."""

    name = "kill-worker"
    params: ClassVar = {**ZeroShot.params, "tokens": Param("", "folder of files; each kills one worker mid-cell")}

    def predict(self, test):
        for token in sorted(Path(self.tokens).iterdir()):
            try:
                token.unlink()  # atomic: one process gets each token
            except FileNotFoundError:
                continue
            os.kill(os.getpid(), signal.SIGKILL)
        return super().predict(test)


def _register_kill_worker() -> None:  # run in every Ray worker process as it starts
    from e2h.learners import LEARNERS

    LEARNERS.register("kill-worker", KillWorker)


@pytest.fixture
def kill_worker(monkeypatch):
    monkeypatch.setitem(LEARNERS._items, "kill-worker", KillWorker)


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory):
    """The engine cache of this module (and its Ray workers): ``$E2H_HOME/engine`` of a home that shares the
    session's models and assets, so that emptying it (:func:`empty`) leaves the user's cache alone."""
    from e2h.paths import e2h_home

    session, home = e2h_home(), tmp_path_factory.mktemp("e2h_home_ray")
    for part in session.iterdir():
        if part.name != "engine":
            (home / part.name).symlink_to(part.resolve(), target_is_directory=part.is_dir())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("E2H_HOME", str(home))
        yield home / "engine"


def empty(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()


@pytest.fixture(scope="module")
def ray_cluster(engine_cache):
    """A local Ray cluster for the module; its workers know the ``kill-worker`` learner of this file."""
    ray = pytest.importorskip("ray", reason=NO_RAY)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": _register_kill_worker},
    )
    yield ray
    ray.shutdown()


def smoke(output_dir: Path, **overrides) -> object:
    """``configs/smoke.yaml`` (18 cells on the tiny model), writing under ``output_dir``."""
    data = yaml.safe_load((CONFIGS / "smoke.yaml").read_text())
    data.update(output_dir=str(output_dir), **overrides)
    return parse_config(data, source="config smoke.yaml", base_dir=CONFIGS)


def rows(config) -> dict[str, pd.DataFrame]:
    """Every finished cell's rows by cell id, timings aside."""
    store = RunStore.for_config(config)
    return {p.stem: store.read_cell(p.stem).drop(columns=TIMINGS) for p in sorted(store.cells_dir.glob("*.parquet"))}


def manifest(config) -> dict:
    return json.loads(RunStore.for_config(config).manifest_path.read_text())


def assert_same_rows(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert sorted(got) == sorted(want)
    for cell_id, frame in want.items():
        pd.testing.assert_frame_equal(got[cell_id], frame, check_exact=True, obj=cell_id)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, engine_cache):
    """The local runner on the smoke grid from an empty engine cache: its result and rows."""
    config = smoke(tmp_path_factory.mktemp("local"))
    empty(engine_cache)
    result = run_experiment(config)
    assert result.ok
    return result, rows(config)


@pytest.fixture(scope="module")
def local_smoke(local_run):
    """The local runner's rows of the smoke grid."""
    return local_run[1]


def engine_line(result) -> str:
    """The engine line ``e2h run`` prints for ``result``."""
    from rich.console import Console

    from e2h.cli.run import _print_timings

    console = Console(record=True, width=300)
    _print_timings(console, result)
    return next(line for line in console.export_text().splitlines() if line.startswith("engine "))


@pytest.mark.ray
@pytest.mark.skipif(not ray_installed, reason=NO_RAY)
def test_smoke_on_ray_gives_the_local_runners_rows(ray_cluster, local_smoke, tmp_path):
    config = smoke(tmp_path)  # two workers, one per seed (share_work)
    result = run_experiment(config, backend="ray")
    assert result.ok and len(result.executed) == len(result.cells) == 18
    assert_same_rows(rows(config), local_smoke)
    entries = manifest(config)
    assert entries["status"] == "finished" and entries["counts"] == {"done": 18}
    assert entries["models"]["tiny-random"]["parameters"] > 0  # the workers record the model's facts
    assert list(RunStore.for_config(config).cells_dir.glob(".*")) == []


@pytest.mark.ray
@pytest.mark.skipif(not ray_installed, reason=NO_RAY)
def test_a_ray_worker_does_the_local_runs_shared_prefetch(ray_cluster, local_run, engine_cache, tmp_path):
    """One worker for the model: the same recipe as the local run, so the same cells from the same forward work,
    token for token (without the prefetch its cells would each run their own passes), printed the same way."""
    local, local_rows = local_run
    config = smoke(tmp_path, resources={"default": {"num_cpus": 2}})
    empty(engine_cache)
    result = run_experiment(config, backend="ray")
    assert result.ok and len(result.executed) == 18
    assert_same_rows(rows(config), local_rows)
    tokens = local.engine["tiny-random"]["tokens"]
    assert tokens > 0 and result.engine["tiny-random"]["tokens"] == tokens
    assert "prefetch (shared forward passes)" in result.seconds and "ray (wall)" in result.seconds
    printed = [re.search(r"^engine tiny-random \(float32\): [\d,]+ tokens", engine_line(r)) for r in (local, result)]
    assert printed[0] and printed[1] and printed[0][0] == printed[1][0]


@pytest.mark.ray
@pytest.mark.skipif(not ray_installed, reason=NO_RAY)
def test_killed_worker_is_retried_then_recorded_failed_and_a_rerun_completes_it(ray_cluster, kill_worker, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    learners = [{"name": "kill-worker", "options": {"tokens": str(tokens)}}, "zero-shot"]
    one_worker = {"default": {"num_cpus": 2}}  # cells in grid order: kill-worker seed 0, seed 1, zero-shot 0, 1
    reference = smoke(tmp_path / "reference", learners=learners)  # uninterrupted: no token
    assert run_experiment(reference).ok

    config = smoke(tmp_path / "ray", learners=learners, resources=one_worker, max_retries=1)
    for n in range(2):  # seed 0: killed, retried, killed again → failed
        (tokens / str(n)).touch()
    result = run_experiment(config, backend="ray")
    assert list(tokens.iterdir()) == [] and len(result.executed) == 4 and len(result.failures) == 1
    failed, error = result.failures[0]
    assert (failed.learner, failed.seed) == ("kill-worker", 0)
    assert error.startswith("WorkerDiedError: the Ray worker died computing this cell (2 tries; raise max_retries")
    entry = next(c for c in manifest(config)["cells"] if c["cell_id"] == failed.cell_id)
    assert entry["status"] == "failed" and "ray.exceptions" in entry["traceback"]
    assert len(rows(config)) == 3  # the run went on, on the restarted worker

    again = run_experiment(config)  # a rerun (here local; either backend resumes) computes only that cell
    assert again.ok and again.executed == [failed.cell_id]
    assert_same_rows(rows(config), rows(reference))


@pytest.mark.ray
@pytest.mark.skipif(not ray_installed, reason=NO_RAY)
def test_resume_across_backends_with_ctrl_c(ray_cluster, local_smoke, tmp_path, monkeypatch):
    config = smoke(tmp_path, resources={"default": {"num_cpus": 2}})  # one worker
    real_cell, calls = worker.run_cell, []

    def interrupted_cell(cell, lm, data):  # Ctrl-C during the local runner's 7th cell
        calls.append(cell.cell_id)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real_cell(cell, lm, data)

    monkeypatch.setattr(worker, "run_cell", interrupted_cell)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config)
    assert len(rows(config)) == 6
    monkeypatch.setattr(worker, "run_cell", real_cell)

    real_wait, waits = ray_cluster.wait, []

    def interrupted_wait(*args, **kwargs):  # Ctrl-C while the Ray driver waits, after some cells are in
        waits.append(1)
        if len(rows(config)) >= 9:
            raise KeyboardInterrupt
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(ray_cluster, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, backend="ray")
    monkeypatch.setattr(ray_cluster, "wait", real_wait)
    state = manifest(config)
    done = len(rows(config))
    assert state["status"] == "interrupted" and 9 <= done < 18
    assert state["counts"]["done"] == done and state["counts"].get("interrupted", 0) >= 1
    assert list(RunStore.for_config(config).cells_dir.glob(".*")) == []  # nothing half-written

    rest = run_experiment(config)  # the local runner finishes what Ray left
    assert rest.ok and len(rest.executed) == 18 - done
    assert_same_rows(rows(config), local_smoke)


def test_resources_per_cell(tmp_path):
    config = smoke(tmp_path)
    assert cell_resources(config, "tiny-random", "icl", cluster_gpus=8) == {"num_cpus": 1}
    assert cell_resources(config, "tiny-random", "lora", cluster_gpus=8) == {"num_cpus": 1, "num_gpus": 1}
    assert cell_resources(config, "tiny-random", "lora", cluster_gpus=0) == {"num_cpus": 1}  # no GPU: CPU LoRA
    assert cell_resources(config, "meta-llama/Llama-2-7b-hf", "zero-shot", cluster_gpus=1)["num_gpus"] == 1
    on_cpu = smoke(tmp_path, device="cpu")
    assert cell_resources(on_cpu, "meta-llama/Llama-2-7b-hf", "zero-shot", cluster_gpus=1) == {"num_cpus": 1}
    custom = smoke(tmp_path, resources={"default": {"num_cpus": 2}, "icl": {"num_gpus": 0.5, "memory": 4e9}})
    assert cell_resources(custom, "tiny-random", "icl", 0) == {"num_cpus": 2, "num_gpus": 0.5, "memory": 4e9}
    assert cell_resources(custom, "tiny-random", "zero-shot", 0) == {"num_cpus": 2}
    assert [model_billions(n) for n in ("Qwen/Qwen2.5-0.5B", "Mixtral-8x7B", "smollm2-135m")] == [0.5, 7, 0]


def test_shares_keep_the_cells_of_one_test_pool_together(tmp_path):
    cells = expand(smoke(tmp_path))  # 18 cells: 2 seeds × (1 zero-shot + 2 learners × 2 levels × 2 noise levels)
    order = [c.cell_id for c in cells]
    two = share_work(cells, 2)
    assert [{c.seed for c in share} for share in two] == [{0}, {1}]  # a seed's cells test the same items
    assert all([c.cell_id for c in share] == [i for i in order if i in {c.cell_id for c in share}] for share in two)
    assert share_work(cells, 1) == [cells]
    four = share_work(cells, 4)  # more workers than seeds: a seed's cells are halved
    assert sorted(len(share) for share in four) == [4, 4, 5, 5]
    assert sorted((c for share in four for c in share), key=cells.index) == cells
    assert len(share_work(cells[:3], 8)) == 3  # never more shares than cells


def test_bad_backend_settings_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"^config smoke.yaml: resources: unknown learner 'lroa' \("):
        run_experiment(smoke(tmp_path, resources={"lroa": {"num_gpus": 1}}), backend="ray")
    with pytest.raises(ConfigError, match=r"backend: input should be 'local' or 'ray' \(got 'rey'\)"):
        smoke(tmp_path, backend="rey")
    with pytest.raises(E2HError, match=r"--address auto is for the ray backend"):
        run_experiment(smoke(tmp_path), backend="local", address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(E2HError, match=r"^the ray backend needs Ray: pip install 'e2h\[ray\]' \(ray==2\.60\.0\)$"):
        run_experiment(smoke(tmp_path), backend="ray")
    assert not (tmp_path / "smoke").exists()  # all before the store opened
