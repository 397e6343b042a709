"""The report that `make run` writes opens in a real browser (headless Chromium) and shows every
plot: each embedded image decodes to a real picture, and a screenshot is not blank."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
]

PLOTS = {"ROC curve", "Calibration", "Confusion matrix", "Feature importance", "Loss curve",
         "Equity curve", "Portfolios: turnover and net Sharpe", "Cost curve", "Signal decay",
         "Return by score quantile"}  # fmt: skip
# Appended to a copy of the report: after load, list what each <img> decoded to.
PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify([...document.images].map(
    (i) => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})));
  document.body.appendChild(out);
});
</script>"""


def chromium_cmd(chromium: str, profile: Path, *args: str) -> list[str]:
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip


def test_every_plot_of_the_sample_report_loads_in_chromium(
    built_sample_project: Path, chromium: str, tmp_path: Path
) -> None:
    report = built_sample_project / "reports/report.html"
    page = report.read_text()
    # self-contained: nothing is fetched from anywhere but the page itself
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    dom = run(
        chromium_cmd(chromium, tmp_path / "profile1", "--virtual-time-budget=10000",
                     "--dump-dom", probe.as_uri()),
        tmp_path, timeout=120,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    images = json.loads(html.unescape(found.group(1)))
    assert {i["alt"] for i in images} == PLOTS
    for img in images:
        assert img["complete"] and img["w"] > 200 and img["h"] > 200, img


def test_a_screenshot_of_the_report_shows_the_plots(
    built_sample_project: Path, chromium: str, tmp_path: Path
) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    run(
        chromium_cmd(chromium, tmp_path / "profile2", "--hide-scrollbars", "--window-size=1200,7000",
                     "--virtual-time-budget=10000", f"--screenshot={shot}",
                     (built_sample_project / "reports/report.html").as_uri()),
        tmp_path, timeout=120,
    )  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    r, g, b = (pixels[:, i].astype(np.int32) for i in range(3))
    seen = np.zeros(1 << 24, dtype=bool)  # one slot per colour: a count without sorting pixels
    seen[(r << 16) | (g << 8) | b] = True
    assert seen.sum() > 200  # text, tables and plots, not a blank page
    # the model is drawn in red (#d62728) in the ROC, calibration, importance and equity plots
    red = np.all(np.abs(pixels.astype(int) - [214, 39, 40]) <= 12, axis=1).sum()
    assert red > 2000, red


def test_the_report_header_names_the_run_commit_data_snapshot_blocks_and_trials(
    built_sample_project: Path, chromium: str, tmp_path: Path
) -> None:
    import hashlib

    p = built_sample_project
    record = json.loads((p / "reports/mlflow_run.json").read_text())
    blocks = json.loads((p / "reports/metrics.json").read_text())["blocks"]
    dom = run(
        chromium_cmd(chromium, tmp_path / "profile3", "--virtual-time-budget=10000",
                     "--dump-dom", (p / "reports/report.html").as_uri()),
        tmp_path, timeout=120,
    ).stdout  # fmt: skip
    header = dom[dom.index('id="provenance"') : dom.index("</section>")]
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", header)))
    commit = run(["git", "rev-parse", "HEAD"], p).stdout.strip()
    data = hashlib.sha256((p / "data/interim/prices.parquet").read_bytes()).hexdigest()
    assert record["git_commit"] == commit and record["data_sha256"] == data
    for fact in (record["run_id"], record["run_name"], commit, data):
        assert fact in text, fact
    for block in ("train", "valid", "test"):
        first, last = blocks[0][block]
        assert f"{first[:10]} to {last[:10]}" in text
    assert "the committed params.yaml, unchanged" in text
    assert f"{record['trials']} configuration" in text or "only configuration tried" in text
