"""The item tables behind the item-level figures load as the run loaded them, and never download."""

from __future__ import annotations

import os

import pytest

import e2h.data
from e2h.analysis.plots_items import load_item_tables
from e2h.assets import is_cached
from e2h.data import arc, load_dataset
from e2h.errors import E2HError


def _unavailable(name: str):
    raise E2HError(f"{name} is not cached and E2H_OFFLINE is set: copy it into the asset folder.")


@pytest.mark.integration
def test_arc_without_its_annotations_still_gets_item_figures(monkeypatch, tmp_path, capsys):
    """The demo on a machine without the ARC annotations: the run loads ARC (human measures NaN), so must its
    report, instead of saying that ARC's assets are not cached."""
    load_dataset("arc-easy")  # the question carrier, fetched once like any integration test's assets
    monkeypatch.delenv("E2H_ARC_ANNOTATIONS", raising=False)
    monkeypatch.setenv("E2H_ASSET_DIR", str(tmp_path))  # a new environment: the default file is looked up anew
    monkeypatch.setattr(arc, "member_path", _unavailable)  # the annotations are not cached
    monkeypatch.setattr(e2h.data, "is_cached", lambda carrier: carrier != "arc-annotations" and is_cached(carrier))
    capsys.readouterr()
    tables, notes = load_item_tables(["arc"])
    assert len(tables["arc"]) == 4417 and tables["arc"]["human_grade"].isna().all()
    assert tables["arc"]["question_num_words"].notna().all()
    assert not [note for note in notes if "not cached" in note and "No item-level figures" in note]
    (note,) = notes  # the run's warning, as a note of the report rather than a second line on the terminal
    assert note.startswith("Item table of arc, loaded without downloads: ARC human measures")
    assert "e2h: warning" not in capsys.readouterr().err


def test_a_report_never_downloads(monkeypatch):
    monkeypatch.delenv("E2H_OFFLINE", raising=False)
    monkeypatch.setattr(e2h.data, "is_cached", lambda carrier: False)
    seen = []

    def load(name, **_):
        seen.append(os.environ.get("E2H_OFFLINE"))
        raise E2HError("bigbench is not cached and E2H_OFFLINE is set: copy it into the asset folder.")

    monkeypatch.setattr(e2h.data, "load_dataset", load)
    tables, notes = load_item_tables(["strategyqa"])
    assert tables == {} and seen == ["1"]
    assert notes == ["No item-level figures for strategyqa: its assets are not cached (`e2h data show strategyqa`)."]
    assert "E2H_OFFLINE" not in os.environ  # restored
