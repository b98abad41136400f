"""Render a run's report.html in headless Chromium and check that every figure loads.

    python -m e2h.analysis.browser_check runs/demo      # used by `make check-report`

A copy of the page with a small script is loaded; after the load event the script writes, for
every ``<img>``, whether it loaded (``complete`` and ``naturalWidth > 0``) into the DOM, which
``--dump-dom`` returns. Every PNG in ``report/`` must appear as a loaded image. A screenshot of
the real page is saved as ``report/screenshot.png``. Exit 0 when all is well, 1 when a figure is
missing or broken, 2 when the report or Chromium cannot be found.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from e2h.analysis.report import SCREENSHOT
from e2h.errors import E2HError
from e2h.io import atomic_path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",  # let the page load and the check script run before dumping
]
CHECK_ID = "e2h-image-check"
CHECK_SCRIPT = f"""<script>
window.addEventListener("load", () => {{
  const images = Array.from(document.images).map((img) => ({{
    file: img.dataset.file || img.getAttribute("src").slice(0, 60),
    loaded: img.complete && img.naturalWidth > 0,
    width: img.naturalWidth,
  }}));
  const out = document.createElement("pre");
  out.id = "{CHECK_ID}";
  out.textContent = JSON.stringify(images);
  document.body.appendChild(out);
}});
</script>"""


@dataclass
class CheckResult:
    """What the browser saw: one dict per ``<img>`` (file, loaded, width) and the problems found."""

    images: list[dict]
    problems: list[str]
    screenshot: Path

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str:
    """The Chromium executable: ``$E2H_CHROMIUM`` or the first of the usual names on PATH."""
    override = os.environ.get("E2H_CHROMIUM")
    if override:
        return override
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    raise E2HError("no Chromium found; install it (Debian: `apt-get install -y chromium`) or set E2H_CHROMIUM")


def _report_html(path: str | Path) -> Path:
    path = Path(path)
    candidates = [path, path / "report.html", path / "report" / "report.html"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise E2HError(f"no report.html under {path}; write it first with `e2h report {path}`")


def _chromium(args: list[str], profile: str, timeout: float) -> subprocess.CompletedProcess:
    command = [find_chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise E2HError(f"Chromium did not finish within {timeout:.0f} s; rerun, or raise --timeout") from exc


def check_report(path: str | Path, *, timeout: float = 120.0, window: str = "1280,3000") -> CheckResult:
    """Load the report in headless Chromium, check every image, save ``screenshot.png`` beside it."""
    page = _report_html(path)
    folder = page.parent
    text = page.read_text(encoding="utf-8")
    probe = text.replace("</body>", CHECK_SCRIPT + "</body>") if "</body>" in text else text + CHECK_SCRIPT
    probe_page = folder / ".browser_check.html"  # same folder, so relative links resolve as in the real page
    screenshot = folder / SCREENSHOT
    with tempfile.TemporaryDirectory(prefix="e2h-chromium-") as tmp_dir:
        profile, shot_file = str(Path(tmp_dir) / "profile"), Path(tmp_dir) / SCREENSHOT
        try:
            probe_page.write_text(probe, encoding="utf-8")
            dump = _chromium(["--dump-dom", probe_page.resolve().as_uri()], profile, timeout)
        finally:
            probe_page.unlink(missing_ok=True)
        shot = _chromium(
            [f"--window-size={window}", f"--screenshot={shot_file}", page.resolve().as_uri()], profile, timeout
        )
        if shot.returncode != 0 or not shot_file.is_file() or shot_file.stat().st_size == 0:
            raise E2HError(f"Chromium could not take a screenshot (exit {shot.returncode}): {_last_line(shot)}")
        with atomic_path(screenshot) as tmp:
            shutil.copyfile(shot_file, tmp)

    match = re.search(rf'<pre id="{CHECK_ID}">(.*?)</pre>', dump.stdout, flags=re.S)
    if dump.returncode != 0 or match is None:
        raise E2HError(f"Chromium did not render the report (exit {dump.returncode}): {_last_line(dump)}")
    images = json.loads(_unescape(match.group(1)))
    problems = [f"image {img['file']} did not load" for img in images if not img["loaded"]]
    shown = {img["file"] for img in images if img["loaded"]}
    expected = sorted(p.name for p in folder.glob("*.png") if p.name != SCREENSHOT)
    problems += [f"plot {name} is not shown in {page.name}" for name in expected if name not in shown]
    if not images:
        problems.append(f"{page.name} has no images; rewrite it with `e2h report`")
    return CheckResult(images, problems, screenshot)


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in (proc.stderr or proc.stdout or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def main(argv: list[str] | None = None) -> int:
    """``python -m e2h.analysis.browser_check RUN_DIR``: 0 ok, 1 a figure is missing or broken, 2 bad input."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m e2h.analysis.browser_check RUN_DIR (or REPORT_DIR, or report.html)", file=sys.stderr)
        return 2
    try:
        result = check_report(argv[0])
    except E2HError as exc:
        print(f"browser_check: error: {exc}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"browser_check: FAIL: {problem}", file=sys.stderr)
    if not result.ok:
        return 1
    print(f"browser_check: ok: {len(result.images)} images loaded; screenshot {result.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
