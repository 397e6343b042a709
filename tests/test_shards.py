"""Features and labels computed as shards of tickers, then gathered, are the one-job files byte for
byte: the gather restores panel order, the cross-sectional ranks and the excess returns."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import copy_project, run, set_params
from synthetic_panels import label_config, make_panel, small_features
from updown.cli import main as updown
from updown.dag.acquire_jobs import acquire_jobs
from updown.errors import UpdownError
from updown.io import read_parquet, write_parquet, write_parquet_batches
from updown.learn.batches import feature_batches
from updown.learn.feature_shards import features_gather, features_shard
from updown.learn.label import make_labels
from updown.learn.label_shards import label_gather, label_shard
from updown.learn.shards import parse_shard, read_shard, shard_tickers

TICKERS = 9


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shards") / "prices.parquet"
    write_parquet(make_panel(seed=17, tickers=TICKERS, n_days=90), path)
    return path


def sharded_features(
    prices: Path, out: Path, n: int, volume: bool = True, max_rows: int = 10**9
) -> Path:
    cfg = small_features()
    paths = []
    for i in range(n):
        shard = out.parent / f"shard-{i}-of-{n}.parquet"
        write_parquet_batches(features_shard(read_shard(prices, i, n), cfg, False, volume), shard)
        paths.append(shard)
    keys = read_parquet(prices, columns=["ticker", "timestamp"])
    frames = (read_parquet(p) for p in paths)
    write_parquet_batches(features_gather(frames, keys, cfg, False, volume, max_rows), out)
    return out


@pytest.mark.parametrize("n", [2, 4, 20])  # 20 shards for 9 tickers: some shards are empty
def test_gathered_features_are_the_one_job_file_byte_for_byte(
    prices: Path, tmp_path: Path, n: int
) -> None:
    one = tmp_path / "one.parquet"
    write_parquet_batches(feature_batches(read_parquet(prices), small_features()), one)
    gathered = sharded_features(prices, tmp_path / "gathered.parquet", n)
    assert gathered.read_bytes() == one.read_bytes()
    ranks = [c for c in read_parquet(gathered).columns if c.startswith("cs_rank_")]
    assert ranks == [f"cs_rank_{n}" for n in small_features().cross_sectional]


def test_gathered_features_keep_the_batches_and_the_volume_switch_of_one_job(
    prices: Path, tmp_path: Path
) -> None:
    # A panel longer than the batch size is written in whole-ticker batches (row groups); the
    # gather writes the same ones. Without volume, the volume features and their ranks are out.
    one = tmp_path / "one.parquet"
    batches = feature_batches(read_parquet(prices), small_features(), max_rows=200, volume=False)
    write_parquet_batches(batches, one)
    gathered = sharded_features(prices, tmp_path / "g.parquet", 3, volume=False, max_rows=200)
    assert gathered.read_bytes() == one.read_bytes()
    assert "cs_rank_volume_level_3" not in read_parquet(gathered).columns


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"kind": "direction", "excess": True, "threshold": 0.5, "threshold_unit": "volatility"},
        {"kind": "direction", "threshold": 0.002, "dead_zone": "keep", "horizon": 3},
        {"kind": "return", "excess": True, "entry": "next_open", "horizon": 2},
        {"kind": "triple_barrier", "horizon": 4, "vol_window": 5},
    ],
)
def test_gathered_labels_are_the_one_job_file_byte_for_byte(
    prices: Path, tmp_path: Path, changes: dict
) -> None:
    cfg = label_config(**changes)
    one = write_parquet(make_labels(read_parquet(prices), cfg), tmp_path / "one.parquet")
    paths = [
        write_parquet(label_shard(read_shard(prices, i, 4), cfg), tmp_path / f"s{i}.parquet")
        for i in range(4)
    ]
    gathered = label_gather((read_parquet(p) for p in paths), cfg)
    assert gathered.attrs == read_parquet(one).attrs
    assert write_parquet(gathered, tmp_path / "g.parquet").read_bytes() == one.read_bytes()


def test_a_shard_holds_the_tickers_of_the_acquire_job_with_the_same_hash(prices: Path) -> None:
    tickers = [f"T{i}" for i in range(TICKERS)]
    jobs = list(acquire_jobs(tickers, 4).values())
    shards = [tuple(shard_tickers(tickers, i, 4)) for i in range(4)]
    assert [s for s in shards if s] == jobs
    for i in range(4):
        held = read_shard(prices, i, 4)["ticker"].unique().tolist()
        assert held == list(shards[i])


def test_the_gather_refuses_shards_that_do_not_cover_the_panel(
    prices: Path, tmp_path: Path
) -> None:
    cfg = small_features()
    keys = read_parquet(prices, columns=["ticker", "timestamp"])
    parts = [
        next(features_shard(read_shard(prices, i, 2), dataclasses.replace(cfg), False, True))
        for i in range(2)
    ]
    with pytest.raises(UpdownError, match="rerun the shard jobs"):
        list(features_gather(parts[:1], keys, cfg, False, True))
    with pytest.raises(UpdownError, match="more than one shard"):
        list(features_gather([parts[0], parts[0]], keys, cfg, False, True))
    with pytest.raises(UpdownError, match="rerun the shard jobs"):  # shards of other params
        list(features_gather(parts, keys, cfg, False, volume=False))


@pytest.mark.parametrize("text", ["3", "4/4", "a/b", "-1/2"])
def test_a_shard_is_named_i_of_n(text: str) -> None:
    with pytest.raises(UpdownError, match="--shard"):
        parse_shard(text)
    assert parse_shard("3/4") == (3, 4)


@pytest.mark.integration
def test_the_stage_commands_sharded_write_the_files_the_pipeline_wrote(
    built_sample_project: Path, tmp_path: Path
) -> None:
    prices = str(built_sample_project / "data/interim/prices.parquet")
    params = str(built_sample_project / "params.yaml")
    for stage, made in (
        ("features", "data/processed/features.parquet"),
        ("label", "data/interim/labels.parquet"),
    ):
        shards = []
        for i in range(3):
            shards.append(str(tmp_path / f"{stage}-{i}.parquet"))
            args = ["--params", params, "--prices", prices, "--shard", f"{i}/3"]
            assert updown([stage, *args, "--out", shards[-1]]) == 0
        out = tmp_path / f"{stage}.parquet"
        gather = ["--params", params, "--prices", prices, "--gather", *shards]
        assert updown([stage, *gather, "--out", str(out)]) == 0
        assert out.read_bytes() == (built_sample_project / made).read_bytes(), stage


@pytest.fixture(scope="module")
def sp500_prices(tmp_path_factory: pytest.TempPathFactory, sp500_dir: Path) -> Path:
    """The validated panel of the first 60 files of the S&P folder (the whole folder, 404 files,
    is compared by `make bench`'s sharded scenario, benchmarks/sharded.py)."""
    project = tmp_path_factory.mktemp("sp500") / "project"
    project.mkdir()
    copy_project(project)
    tickers = sorted(p.name.removesuffix(".csv.gz") for p in sp500_dir.glob("*.csv.gz"))[:60]
    changes = {
        "data.source": "csv",
        "data.tickers": tickers,
        "data.start": "1999-11-01",
        "data.end": "2018-12-31",
        "data.csv.path": str(sp500_dir),
        "validate.on_error": "drop",
    }
    set_params(project, changes, render_dvc=False)
    run(["snakemake", "--cores", "2", "data/interim/prices.parquet"], project, timeout=1200)
    return project / "data/interim/prices.parquet"


@pytest.mark.integration
@pytest.mark.shared
def test_sp500_features_and_labels_sharded_equal_one_job_to_the_bit(
    sp500_prices: Path, tmp_path: Path
) -> None:
    for stage in ("features", "label"):
        params = sp500_prices.parents[2] / "params.yaml"
        base = ["--params", str(params), "--prices", str(sp500_prices)]
        one = tmp_path / f"{stage}-one.parquet"
        assert updown([stage, *base, "--out", str(one)]) == 0
        shards = [str(tmp_path / f"{stage}-{i}.parquet") for i in range(4)]
        for i, shard in enumerate(shards):
            assert updown([stage, *base, "--shard", f"{i}/4", "--out", shard]) == 0
        out = tmp_path / f"{stage}.parquet"
        assert updown([stage, *base, "--gather", *shards, "--out", str(out)]) == 0
        assert out.read_bytes() == one.read_bytes(), stage
