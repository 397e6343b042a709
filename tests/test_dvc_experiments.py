"""`dvc exp run -S train.learning_rate=0.1`, then `dvc metrics diff` and `dvc plots diff`, work
on a project whose pipeline result is committed in dvc.lock (a fork with a DVC remote; the
fresh-clone story, with no dvc.lock, is tests/test_readme_commands.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import run

pytestmark = [pytest.mark.integration]

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def test_a_learning_rate_experiment_shows_in_metrics_diff_and_plots_diff(
    built_sample_project: Path, tmp_path: Path
) -> None:
    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    # Record the snakemake-built result as the baseline: DVC hashes what is there, and `dvc
    # status` then agrees that nothing needs to run (the two orchestrators made the same files).
    run(["dvc", "commit", "--force"], p)
    status = run(["dvc", "status", "--json"], p).stdout
    assert json.loads(status) == {}, status
    run([*GIT, "add", "dvc.lock"], p)
    run([*GIT, "commit", "-qm", "baseline result"], p)

    done = run(["dvc", "exp", "run", "-S", "train.learning_rate=0.1"], p, timeout=900)
    out = done.stdout + done.stderr
    # the train section reruns train and what follows it, only
    ran = set(re.findall(r"Running stage '([\w@^.=-]+)'", out))
    assert ran == {"train", "evaluate", "track", "predict"}, out[-3000:]

    # -S rewrote params.yaml through DVC's YAML round trip: only the line of the key changed
    lines = run(["git", "diff", "-U0", "params.yaml"], p).stdout.splitlines()
    assert [line for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-  learning_rate: 0.03",
        "+  learning_rate: 0.1",
    ]

    # every number, not only the declared headline: the baseline is in the committed dvc.lock
    targets = ["--targets", "reports/metrics.json"]
    diff = json.loads(run(["dvc", "metrics", "diff", "--json", *targets], p).stdout)
    changed = diff["reports/metrics.json"]
    model = {k: v for k, v in changed.items() if k.startswith("model.")}
    assert model, changed
    assert all(v["old"] != v["new"] for v in model.values())
    # the baselines do not depend on LightGBM's learning rate: same rows, same numbers
    assert not [k for k in changed if k.startswith("baseline_")], changed

    plots = p / "plots_diff"
    run(["dvc", "plots", "diff", "-o", str(plots)], p)
    page = (plots / "index.html").read_text()
    for name in ("reports/train_curve.csv", "reports/plots/roc.csv", "reports/plots/calibration.csv",
                 "reports/plots/confusion.csv", "reports/plots/importance.csv",
                 "reports/plots/equity.csv", "reports/plots/signal_decay.csv",
                 "reports/plots/signal_quantiles.csv"):  # fmt: skip
        assert f"vegaEmbed('#{name.replace('/', '_').replace('.', '_')}'" in page, name
