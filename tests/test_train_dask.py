"""train.engine: dask: each worker reads only its shard of tickers, LightGBM trains data-parallel,
and the result is the local engine's within a stated tolerance (the baselines exactly)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, run, set_params
from sklearn.metrics import roc_auc_score
from train_data import params, split_dates, synthetic
from updown.config import build_params
from updown.contract import CLASSIFICATION
from updown.errors import UpdownError
from updown.learn.dask_cluster import peak_rss_mb
from updown.learn.split import assign_blocks, holdout_fold
from updown.learn.tables import read_training_table
from updown.learn.train import train_model
from updown.learn.train_dask import check_mean_metric, train_on_dask
from updown.learn.worker_shard import read_shard, ticker_shards
from updown.safe_yaml import read_yaml

# The dask model's validation loss is within this share of the local model's: the two bin the
# features from different samples (LightGBM finds bins on each worker's rows) and bag different
# rows, so their trees differ a little; on these panels the gap is about 0.02 %.
LOSS_TOLERANCE = 0.005


def write_panel(
    tmp_path: Path,
    n_bars: int,
    tickers: int,
    noise_features: int = 0,
    row_group: int | None = None,
    horizon: int = 1,
) -> tuple[Path, Path, pd.DataFrame]:
    """Features (float32, `noise_features` extra columns) and labels files of a synthetic panel
    with a planted signal; labels spanning `horizon` bars (label_end `horizon` bars on)."""
    names = tuple(f"T{i:03d}" for i in range(tickers))
    _, features, labels = synthetic(n_bars=n_bars, tickers=names)
    rng = np.random.default_rng(1)
    extra = {f"x{j:02d}": rng.standard_normal(len(features)) for j in range(noise_features)}
    features = pd.concat([features, pd.DataFrame(extra)], axis=1)
    values = [c for c in features.columns if c not in ("ticker", "timestamp")]
    features[values] = features[values].astype("float32")
    if horizon > 1:
        ends = features.groupby("ticker")["timestamp"].shift(-horizon)
        labels["label_end"] = ends.iloc[labels.index].to_numpy()
        labels = labels.dropna(subset=["label_end"]).reset_index(drop=True)
        labels.attrs = {"label_kind": "direction", "horizon": str(horizon)}
    f_path, l_path = tmp_path / "features.parquet", tmp_path / "labels.parquet"
    pq.write_table(
        pa.Table.from_pandas(features, preserve_index=False), f_path, row_group_size=row_group
    )
    labels.to_parquet(l_path, index=False)
    return f_path, l_path, pd.read_parquet(l_path)


def test_tickers_are_cut_into_consecutive_runs_of_about_equal_rows() -> None:
    counts = pd.Series({"E": 400, "A": 100, "C": 300, "B": 100, "D": 100})
    assert ticker_shards(counts, 2) == [("A", "B", "C"), ("D", "E")]
    assert ticker_shards(counts, 9) == [("A",), ("B",), ("C",), ("D",), ("E",)]
    skewed = ticker_shards(pd.Series({"A": 1000, "B": 1, "C": 1}), 3)
    assert skewed == [("A",), ("B",), ("C",)]  # every shard keeps a ticker


def test_a_shard_holds_exactly_the_whole_tables_rows_of_its_tickers(tmp_path: Path) -> None:
    features, labels_path, labels = write_panel(tmp_path, 300, 6, noise_features=2, row_group=500)
    split = dataclasses.replace(params(split=split_dates(300)).split, embargo_bars=3)
    whole = read_training_table(features, labels)
    blocks = assign_blocks(whole, split).to_numpy()
    names = [c for c in whole.columns if c.startswith(("ret_", "hint", "noise", "x"))]
    tickers = ("T002", "T003")
    shard = read_shard(
        features, labels_path, tickers, holdout_fold(split), 3, names, CLASSIFICATION
    )
    mine = whole["ticker"].isin(tickers).to_numpy() & np.isin(blocks, ["train", "valid"])
    expected = whole[mine].reset_index(drop=True)
    pd.testing.assert_frame_equal(shard.table, expected)
    assert (blocks[mine][shard.train] == "train").all()
    assert len(shard.train) + len(shard.valid) == mine.sum()
    assert shard.classes == (0.0, 1.0)


def test_a_label_row_twice_in_a_shard_is_refused_naming_the_labels_file(tmp_path: Path) -> None:
    features, labels_path, labels = write_panel(tmp_path, 300, 4)
    pd.concat([labels, labels.iloc[[5]]], ignore_index=True).to_parquet(labels_path, index=False)
    split = params(split=split_dates(300)).split
    with pytest.raises(
        UpdownError, match=r"labels\.parquet: a \(ticker, timestamp\) appears twice"
    ):
        read_shard(
            features,
            labels_path,
            ("T000", "T001"),
            holdout_fold(split),
            0,
            ["ret_1"],
            CLASSIFICATION,
        )


def test_a_metric_that_is_no_mean_over_rows_is_refused_naming_train_metric() -> None:
    check_mean_metric("binary_logloss")
    with pytest.raises(UpdownError, match=r"train\.metric: 'auc' is not a mean over rows"):
        check_mean_metric("auc")


@pytest.mark.parametrize("scheduler", ["local:0", "local", "localhost:8786", "tcp://"])
def test_a_scheduler_neither_local_n_nor_an_address_is_refused(scheduler: str) -> None:
    raw = read_yaml(REPO / "params.yaml")
    raw["train"]["dask"]["scheduler"] = scheduler
    with pytest.raises(UpdownError, match=r"train\.dask\.scheduler"):
        build_params(raw)


LOCAL_TRAIN = """
import json, sys
sys.path.insert(0, {tests!r})
import distributed, lightgbm, pandas, pyarrow.parquet
from updown.learn.tables import read_training_table
from updown.learn.train import train_model
from updown.learn.dask_cluster import peak_rss_mb
from train_data import params, split_dates
before = peak_rss_mb()
p = params(split=split_dates({bars}), train={train!r})
table = read_training_table({features!r}, pandas.read_parquet({labels!r}))
fit = train_model(table, p.split, p.train, "direction").final
after = peak_rss_mb()
loss = float(fit.curve["valid_loss"].iloc[fit.best_iteration - 1])
out = dict(before=before, after=after, model=fit.model_text, loss=loss, rows=fit.rows)
print(json.dumps({{**out, "baselines": fit.baselines}}))
"""


def warm_worker() -> float:
    """A worker with the libraries the training imports, and its peak RSS so far (MB)."""
    import lightgbm  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import updown.learn.train_dask  # noqa: F401

    return peak_rss_mb()


@pytest.mark.integration
def test_two_workers_train_within_tolerance_of_local_each_with_under_07x_its_memory(
    tmp_path: Path,
) -> None:
    from distributed import Client, LocalCluster

    bars, tickers = 2000, 150  # 300 000 labelled rows, 63 float32 features
    features, labels_path, labels = write_panel(tmp_path, bars, tickers, noise_features=60)
    train = {"num_threads": 1, "num_boost_round": 30, "early_stopping_rounds": 10}
    p = params(split=split_dates(bars), train=train)
    script = LOCAL_TRAIN.format(
        tests=str(REPO / "tests"),
        bars=bars,
        train=train,
        features=str(features),
        labels=str(labels_path),
    )
    local = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.splitlines()[-1]
    )
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, memory_limit=0, dashboard_address=None
    )
    with cluster, Client(cluster) as client:
        before = client.run(warm_worker)
        dask_cfg = dataclasses.replace(p.train.dask, scheduler=cluster.scheduler_address)
        cfg = dataclasses.replace(p.train, engine="dask", dask=dask_cfg)
        keys = labels[["ticker", "timestamp"]]
        result = train_on_dask(features, labels_path, keys, p.split, cfg, "direction")
        after = client.run(peak_rss_mb)
    mine = result.final
    # The same training rows, exactly (JSON's round trip: tuples become lists).
    assert json.loads(json.dumps(mine.baselines)) == local["baselines"]
    assert mine.rows == local["rows"]
    loss = mine.curve["valid_loss"].iloc[mine.best_iteration - 1]
    assert abs(loss - local["loss"]) <= LOSS_TOLERANCE * local["loss"], (loss, local["loss"])

    table = read_training_table(features, labels)
    valid = table[assign_blocks(table, p.split).to_numpy() == "valid"]
    names = [
        c
        for c in table.columns
        if c not in ("ticker", "timestamp", "label", "forward_return", "label_end")
    ]
    model = lgb.Booster(model_str=mine.model_text)
    score = model.predict(valid[names].to_numpy())
    local_score = lgb.Booster(model_str=local["model"]).predict(valid[names].to_numpy())
    assert roc_auc_score(valid["label"], score) > 0.55  # the planted signal is learned
    assert np.corrcoef(score, local_score)[0, 1] > 0.95
    assert "machines" not in mine.model_text  # no run's ports in the model file

    local_growth = local["after"] - local["before"]
    growth = [after[w] - before[w] for w in after]
    print(f"valid loss {loss:.6f}, local {local['loss']:.6f}; peak RSS growth {growth} MB per")
    print(f"worker, local {local_growth:.0f} MB")
    # The local process held the table (and LightGBM's bins): the comparison means something.
    assert local_growth > 100, (local["before"], local["after"])
    for worker_growth in growth:
        assert 0.15 * local_growth < worker_growth < 0.7 * local_growth, (growth, local)


@pytest.mark.integration
def test_walk_forward_folds_with_uniqueness_weights_keep_the_local_baselines(
    tmp_path: Path,
) -> None:
    bars = 1200
    features, labels_path, labels = write_panel(tmp_path, bars, 12, horizon=5)
    split = {**split_dates(bars), "mode": "walk_forward", "embargo_bars": 2}
    wf = {"folds": 2, "window": "expanding", "valid_bars": 100, "train_bars": 300}
    p = params(
        split=split, train={"num_threads": 1, "num_boost_round": 20, "sample_weight": "uniqueness"}
    )
    p = dataclasses.replace(
        p,
        split=dataclasses.replace(
            p.split, walk_forward=dataclasses.replace(p.split.walk_forward, **wf)
        ),
    )
    local = train_model(
        read_training_table(features, labels), p.split, p.train, "direction", horizon=5
    )
    limited = dataclasses.replace(p.train.dask, memory_limit="2GB")  # scheduler: local:2
    cfg = dataclasses.replace(p.train, engine="dask", dask=limited)
    keys = labels[["ticker", "timestamp"]]
    result = train_on_dask(features, labels_path, keys, p.split, cfg, "direction", horizon=5)
    assert len(result.folds) == len(local.folds) == 2
    for mine, theirs in zip(result.folds, local.folds, strict=True):
        assert mine.rows == theirs.rows
        assert mine.baselines == theirs.baselines
        assert len(mine.curve) == 20


@pytest.mark.integration
def test_the_sample_pipeline_trains_evaluates_and_predicts_on_a_local_2_cluster(
    built_sample_project: Path, tmp_path: Path
) -> None:
    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    set_params(p, {"train.engine": "dask", "train.dask.scheduler": "local:2"})
    done = run(["snakemake", "--cores", "2"], p)
    ran = set((done.stdout + done.stderr).split("Job stats:")[1].split("total")[0].split())
    assert {"train", "evaluate", "track", "predict"} <= ran
    assert not {"features", "label", "validate"} & ran
    log = (p / "logs/train.log").read_text()
    assert "dask: 2 workers" in log and "dask workers' peak RSS" in log
    metrics = json.loads((p / "reports/metrics.json").read_text())
    assert 0.0 <= metrics["model"]["roc_auc"] <= 1.0
    assert (p / "reports/latest.csv").read_text().count("\n") == 3
    assert (p / "models/model.txt").read_text().startswith("tree")
    curve = pd.read_csv(p / "reports/train_curve.csv")
    assert list(curve.columns) == ["iteration", "train_loss", "valid_loss"]
    local = json.loads((built_sample_project / "models/baselines.json").read_text())
    mine = json.loads((p / "models/baselines.json").read_text())
    assert mine["folds"] == local["folds"]  # the baselines, fitted on the same rows


@pytest.mark.integration
def test_the_dask_bench_scenario_trains_both_engines_and_reports_each_workers_memory(
    tmp_path: Path,
) -> None:
    cmd = [sys.executable, str(REPO / "benchmarks/dask_train.py"), "--rows", "20000"]
    done = subprocess.run(
        [*cmd, "--features", "4", "--workdir", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("\n== dask")[0])
    assert report["local"]["returncode"] == report["dask"]["returncode"] == 0
    assert len(report["dask"]["worker_peak_rss_mb"]) == 2
    assert "peak RSS per worker" in done.stdout
    assert not (tmp_path / "dask-train").exists()  # nothing left behind
