"""`make bench` scenario `dask`: the train stage on a large synthetic training table, once in one
process (`train.engine: local`) and once on a `local:2` Dask cluster (`train.engine: dask`):
wall and CPU time, the local process's peak RSS beside each worker's and the client's.

The table is written directly (features and labels files as the features and label stages
write them, one row group per block of tickers), not built by the pipeline: this measures
train alone, at a size the features stage of this machine could not reach in a bench run.
`--dask-rows` sets its rows (30x the S&P folder's 1.7 M is 50 M), `--dask-features` its float32
feature columns (ret_1, a planted signal and noise; 14 is the qlib14 preset's width): 50 M rows
of the default preset's ~120 features are ~24 GB as float32, more than this machine holds once.

    python benchmarks/dask_train.py --rows 5000000 --features 14
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BIN = Path(sys.executable).parent
TICKER_BLOCK = 100  # tickers per row group
DEFAULT_ROWS = 5_000_000
DEFAULT_FEATURES = 14
BARS = 2520  # ten years of daily bars per ticker (or 360 days of hourly bars)


def write_table(out: Path, rows: int, features: int, seed: int = 0) -> dict[str, Any]:
    """features.parquet and labels.parquet of `rows` rows (tickers x BARS bars)."""
    n_tickers = max(2, round(rows / BARS))
    times = pd.bdate_range(end="2018-12-31", periods=BARS + 1, tz="UTC") + pd.Timedelta(hours=21)
    rng = np.random.default_rng(seed)
    names = ["ret_1", "hint", *(f"x{j:03d}" for j in range(max(0, features - 2)))]
    fwriter = lwriter = None
    try:
        for start in range(0, n_tickers, TICKER_BLOCK):
            block = range(start, min(start + TICKER_BLOCK, n_tickers))
            tickers = np.repeat([f"SYN{i:05d}" for i in block], BARS)
            ts = np.tile(times[:-1].to_numpy(), len(block))
            ends = np.tile(times[1:].to_numpy(), len(block))
            values = rng.standard_normal((len(tickers), len(names)), dtype=np.float32)
            fwd = 0.01 * (0.3 * values[:, 1] + rng.standard_normal(len(tickers)))
            ftable = pa.table(
                {"ticker": tickers, "timestamp": ts, **dict(zip(names, values.T, strict=True))}
            )
            labels = {
                "ticker": tickers,
                "timestamp": ts,
                "label": (fwd > 0).astype(np.int8),
                "forward_return": fwd,
                "label_end": ends,
            }
            ltable = pa.table(labels)
            if fwriter is None:
                fwriter = pq.ParquetWriter(out / "features.parquet", ftable.schema)
                lwriter = pq.ParquetWriter(out / "labels.parquet", ltable.schema)
            fwriter.write_table(ftable)
            lwriter.write_table(ltable)
    finally:
        for writer in (fwriter, lwriter):
            if writer is not None:
                writer.close()
    return {"rows": n_tickers * BARS, "tickers": n_tickers, "features": len(names), "times": times}


def write_params(
    out: Path, times: pd.DatetimeIndex, engine: str, workers: int, rounds: int
) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["label"]["horizon"] = 1
    params["split"].update(
        train_end=times[int(len(times) * 0.70)].date().isoformat(),
        valid_end=times[int(len(times) * 0.85)].date().isoformat(),
    )
    params["train"].update(engine=engine, early_stopping_rounds=10, num_boost_round=rounds)
    params["train"]["dask"]["scheduler"] = f"local:{workers}"
    path = out / f"params.{engine}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def train_once(
    out: Path, engine: str, workers: int, times: pd.DatetimeIndex, rounds: int
) -> dict[str, Any]:
    """`updown train` with `engine`, measured (wall, CPU and peak RSS of the process tree)."""
    import run as bench  # benchmarks/run.py: measure and clean_env

    params = write_params(out, times, engine, workers, rounds)
    models = out / engine
    models.mkdir(exist_ok=True)
    log = models / "train.log"
    cmd = [
        *(str(BIN / "updown"), "train", "--params", str(params)),
        *("--features", str(out / "features.parquet"), "--labels", str(out / "labels.parquet")),
        *("--model", str(models / "model.txt"), "--folds", str(models / "folds")),
        *("--baselines", str(models / "baselines.json"), "--curve", str(models / "curve.csv")),
        *("--log", str(log)),
    ]
    done = bench.measure(cmd, out, bench.clean_env(), models / "output.log", timeout=7200)
    result: dict[str, Any] = {**done.summary(), "returncode": done.returncode}
    if done.returncode != 0:
        result["error"] = done.output_tail.strip().splitlines()[-3:]
        return result
    text = log.read_text()
    curve = pd.read_csv(models / "curve.csv")
    best = json.loads((models / "baselines.json").read_text())["best_iteration"]
    result.update(rounds=len(curve), best=best, valid_loss=float(curve["valid_loss"][best - 1]))
    peaks = re.search(r"dask workers' peak RSS: ([\d, ]+) MB \(this process: (\d+) MB\)", text)
    if peaks:
        result["worker_peak_rss_mb"] = [float(x) for x in peaks[1].split(",")]
        result["client_peak_rss_mb"] = float(peaks[2])
    return result


def run(
    workdir: Path, rows: int, features: int, workers: int = 2, rounds: int = 100
) -> dict[str, Any]:
    out = workdir / "dask-train"
    out.mkdir(parents=True, exist_ok=True)
    try:
        info = write_table(out, rows, features)
        result: dict[str, Any] = {k: v for k, v in info.items() if k != "times"}
        result["features_file_mb"] = round((out / "features.parquet").stat().st_size / 2**20, 1)
        result["workers"] = workers
        for engine in ("local", "dask"):
            result[engine] = train_once(out, engine, workers, info["times"], rounds)
        return result
    finally:
        for path in sorted(out.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        out.rmdir()


def render(result: dict[str, Any]) -> list[str]:
    if not result:
        return []
    lines = [
        f"\n== dask: train alone on {result['rows']:,} rows x {result['features']} float32 "
        f"features ({result['tickers']:,} tickers, features file {result['features_file_mb']} MB)"
    ]
    for engine in ("local", "dask"):
        r = result.get(engine, {})
        if "error" in r:
            lines.append(f"   {engine}: FAILED {r['error']}")
            continue
        memory = f"peak RSS {r['max_rss_mb']:,.0f} MB (largest process)"
        if "worker_peak_rss_mb" in r:
            each = ", ".join(f"{m:,.0f}" for m in r["worker_peak_rss_mb"])
            memory = f"peak RSS per worker {each} MB, client {r['client_peak_rss_mb']:,.0f} MB"
        lines.append(
            f"   {engine:<6}{r['wall_s']:>9.1f} s wall {r['cpu_s']:>9.1f} s CPU; {memory}; "
            f"{r['rounds']} rounds, best {r['best']}, valid loss {r['valid_loss']:.6f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--features", type=int, default=DEFAULT_FEATURES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=100, help="train.num_boost_round")
    parser.add_argument("--workdir", type=Path, default=BENCH / "out")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCH))
    result = run(args.workdir, args.rows, args.features, args.workers, args.rounds)
    print(json.dumps(result, indent=2))
    print("\n".join(render(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
