"""`snakemake --report` gives the standard Snakemake report with every plot, the metrics and the
report page, each under its stage's category with its caption."""

import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import run

pytestmark = [pytest.mark.integration]


def test_snakemake_report_holds_every_plot_metrics_and_the_report_page(
    built_sample_project: Path, tmp_path: Path
):
    project = tmp_path / "project"
    shutil.copytree(built_sample_project, project, symlinks=True)
    run(["snakemake", "--report", str(tmp_path / "report.zip"), "--cores", "1"], project)

    with zipfile.ZipFile(tmp_path / "report.zip") as z:
        names = z.namelist()
        page = z.read("report/report.html").decode()
    shipped = {Path(n).name for n in names if n.startswith("report/data/raw/")}
    plots = {p.name for p in (project / "reports" / "plots").glob("*.png")}
    assert plots and plots <= shipped, plots - shipped
    human = {"report.html", "metrics.json", "validation.json", "train_curve.csv", "latest.csv"}
    assert human | {"mlflow_run.json"} <= shipped
    # Categories and a caption reach the page the archive opens on.
    for text in ("4. Evaluate", "1. Validate", "5. Track and predict", "block-bootstrap"):
        assert text in page, text
