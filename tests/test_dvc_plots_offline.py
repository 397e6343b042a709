"""`dvc plots` pages render without network: DVC's page template with Vega, Vega-Lite and
Vega-Embed inlined (workflow/dvc_plots/offline.html, set as `plots.html_template` in .dvc/config),
each script byte for byte the pinned npm build recorded in vendor.json. Headless Chromium, with
every host unresolvable and a dead proxy, draws every plot of `dvc plots show`; DVC's default
page (the same plots, scripts from the CDN) stays blank under the same conditions."""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run
from test_report_browser import chromium_cmd

TEMPLATE = REPO / "workflow" / "dvc_plots" / "offline.html"
VENDOR = json.loads((REPO / "workflow" / "dvc_plots" / "vendor.json").read_text())
SCRIPT = re.compile(r'<script data-package="([^"@]+)@([^"]+)">\n(.*?)\n</script>', re.S)
# No name resolves and the proxy is a closed port: any fetch from the network fails at once.
OFFLINE = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]
PLOTS = ["reports_train_curve_csv", "reports_plots_roc_csv", "reports_plots_calibration_csv",
         "reports_plots_confusion_csv", "reports_plots_importance_csv",
         "reports_plots_equity_csv"]  # fmt: skip


def test_the_template_inlines_the_pinned_npm_builds_and_nothing_else() -> None:
    page = TEMPLATE.read_text(encoding="utf-8")
    assert TEMPLATE.stat().st_size < 2_000_000
    found = {name: (version, code) for name, version, code in SCRIPT.findall(page)}
    assert list(found) == [p["name"] for p in VENDOR["packages"]]
    for pkg in VENDOR["packages"]:
        version, code = found[pkg["name"]]
        assert version == pkg["version"]
        assert hashlib.sha256(code.encode("utf-8")).hexdigest() == pkg["sha256"], pkg["name"]
        assert pkg["integrity"].startswith("sha512-")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing loaded from elsewhere
    assert "{plot_divs}" in page  # where DVC puts the plots


def test_the_inlined_majors_are_the_ones_dvcs_own_page_loads() -> None:
    from dvc_render.vega import VegaRenderer

    default = dict(re.findall(r"npm/([a-z-]+)@(\d+)\.", VegaRenderer.SCRIPTS))
    ours = {p["name"]: p["version"].split(".")[0] for p in VENDOR["packages"]}
    assert ours == default


def test_the_dvc_config_points_plots_at_the_offline_template() -> None:
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc" / "config")
    # DVC reads a relative html_template from the .dvc folder
    assert (REPO / ".dvc" / config["plots"]["html_template"]).resolve() == TEMPLATE


def cdn_page(page: str) -> str:
    """The same page as DVC's default template would give it: scripts from the CDN."""
    from dvc_render.vega import VegaRenderer

    bare = SCRIPT.sub("", page)
    return bare.replace("<title>DVC Plot</title>", "<title>DVC Plot</title>" + VegaRenderer.SCRIPTS)


def inked_pixels(chromium: str, page: Path, tmp_path: Path, tag: str) -> int:
    from PIL import Image

    shot = tmp_path / f"{tag}.png"
    run(
        chromium_cmd(chromium, tmp_path / f"profile_{tag}", *OFFLINE, "--hide-scrollbars",
                     "--window-size=1200,2600", "--virtual-time-budget=10000",
                     f"--screenshot={shot}", page.as_uri()),
        tmp_path, timeout=120,
    )  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    return int((pixels.min(axis=1) < 200).sum())


@pytest.mark.integration
@pytest.mark.browser
def test_dvc_plots_show_draws_every_plot_with_the_network_off(
    built_sample_project: Path, chromium: str, tmp_path: Path
) -> None:
    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    run(["dvc", "plots", "show", "-o", "plots_page"], p)
    page = p / "plots_page" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in html and len(SCRIPT.findall(html)) == 3

    dom = run(
        chromium_cmd(chromium, tmp_path / "profile_dom", *OFFLINE, "--virtual-time-budget=10000",
                     "--dump-dom", page.as_uri()),
        tmp_path, timeout=120,
    ).stdout  # fmt: skip
    for plot in PLOTS:  # each plot's div holds the canvas Vega drew
        div = dom.split(f'id="{plot}"', 1)[1].split('id="reports_', 1)[0]
        canvas = re.search(r'<canvas width="(\d+)" height="(\d+)" class="marks"', div)
        assert canvas and int(canvas[1]) > 200 and int(canvas[2]) > 200, plot
    assert inked_pixels(chromium, page, tmp_path, "offline") > 50_000

    # The check can fail: DVC's default page, same plots, is blank without network.
    blank = tmp_path / "cdn.html"
    blank.write_text(cdn_page(html), encoding="utf-8")
    assert inked_pixels(chromium, blank, tmp_path, "cdn") < 100
