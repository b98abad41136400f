"""Cost curves read the run's label_cost (its manifest's config), not a fixed ratio."""

from __future__ import annotations

import json
from pathlib import Path

from e2h.analysis.plots_curves import label_cost, run_label_costs
from e2h.analysis.report import write_report

from fake_runs import write_fake_run


def test_a_runs_label_costs_price_levels_and_mixtures():
    costs = {"easy": 1.0, "hard": 3.0}
    assert [label_cost(t, costs=costs) for t in ("easy", "hard", "medium")] == [1.0, 3.0, 1.0]
    assert label_cost("easy_and_hard", costs=costs) == 2.0 and label_cost("all_balanced", costs=costs) == 5 / 3
    assert run_label_costs({"config": {"label_cost": {"easy": 1, "hard": 3}}}) == costs
    assert run_label_costs({"config": {"label_cost": {}}}) is None and run_label_costs({}) is None


def test_the_report_plots_cost_with_the_configured_label_cost(tmp_path: Path):
    run = write_fake_run(tmp_path / "run", n_items=12, n_test=8, seeds=(0,), test_on=("hard",), n_train=(4, 8))
    manifest_path = run / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["config"]["label_cost"] = {"easy": 1, "hard": 3}
    manifest_path.write_text(json.dumps(manifest))
    write_report(run, n_boot=50)
    text = (run / "report" / "report.md").read_text()
    assert "n_train × the label cost of the level trained on (easy = 1, hard = 3" in text
    assert "× 2 for hard items" not in text
