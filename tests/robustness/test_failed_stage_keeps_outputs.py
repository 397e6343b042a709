"""A failed stage replaces nothing: after a good run, a setting or file that makes a stage fail
leaves every output of every stage byte for byte as it was, under Snakemake and under DVC, and
the deployed model keeps answering."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import run, set_params
from hostile import csv_text, daily_bars, fingerprint

pytestmark = [pytest.mark.integration]

OUTPUTS = ("data", "models", "reports")


def bad_csv_folder(root: Path) -> dict[str, Any]:
    """A csv source whose second file is a provider's error message, not prices."""
    root.mkdir()
    (root / "AAA.csv").write_text(csv_text(daily_bars(n=5000, start="1999-01-04")))
    (root / "BBB.csv").write_text('{\n    "Error Message": "Invalid API call."\n}\n')
    return {
        "data.source": "csv",
        "data.tickers": ["AAA", "BBB"],
        "data.csv.path": str(root),
        "data.csv.pattern": "{ticker}.csv",
    }


# case: (the stage that fails, the params that make it fail; a callable builds files first)
FAILURES: dict[str, tuple[str, Any]] = {
    "validation block reaching the last bar": ("train", {"split.valid_end": "2018-12-28"}),
    "train_end before the first bar": ("train", {"split.train_end": "1999-01-02"}),
    "a horizon longer than the data": ("label", {"label.horizon": 10000}),
    "a file that is not price data": ("validate", bad_csv_folder),
}


def assert_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    assert changed == [], changed


def assert_model_answers(project: Path) -> None:
    done = run(["updown", "predict", "--ticker", "^GSPC", "--json"], project)
    assert '"p_up"' in done.stdout


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failing_snakemake_stage_keeps_every_previous_output(
    built_sample_project: Path, tmp_path: Path, case: str
) -> None:
    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    stage, changes = FAILURES[case]
    if callable(changes):
        changes = changes(tmp_path / "csv")
    before = fingerprint(p, *OUTPUTS)
    set_params(p, changes)
    done = run(["snakemake", "--cores", "2"], p, check=False)
    assert done.returncode != 0
    assert f"updown {stage}: error: " in done.stdout + done.stderr
    # A new source's raw files are new outputs of a stage that succeeded; nothing old changed.
    assert_unchanged(before, fingerprint(p, *OUTPUTS))
    assert_model_answers(p)


def test_a_failing_dvc_stage_keeps_every_previous_output(
    built_sample_project: Path, tmp_path: Path
) -> None:
    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    run(["dvc", "commit", "--force"], p)  # adopt Snakemake's outputs as DVC's
    before = fingerprint(p, *OUTPUTS)
    for stage, changes in (
        ("train", {"split.valid_end": "2018-12-28"}),
        ("label", {"label.horizon": 10000}),
    ):
        set_params(p, changes)
        done = run(["dvc", "repro"], p, check=False)
        assert done.returncode != 0
        assert f"updown {stage}: error: " in done.stdout + done.stderr
        assert_unchanged(before, fingerprint(p, *OUTPUTS))
        assert_model_answers(p)
        run(["git", "checkout", "params.yaml"], p)
