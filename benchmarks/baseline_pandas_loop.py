"""What a user would otherwise write: a per-ticker pandas loop computing the same indicators.

`--mode loop` groups the price panel by ticker and, for each ticker, computes every feature that
params.yaml asks for with plain pandas (`shift`, `rolling(w).mean()`, `.std()`, `.corr()`...),
then concatenates the tickers and ranks the cross-sectional columns per timestamp. It uses the
same formulas as updown.learn.features, and numpy's sliding windows where pandas has no built-in (bars
since the window's high or low), so the comparison measures the loop and nothing else: no
`rolling.apply` with a Python function, which would make the loop look far worse than it need be.

`--mode vectorised` runs updown.learn.features.make_features on the same panel in one pass.

Each mode times the computation alone (the panel is read before the clock starts) and writes
{compute_s, cpu_s, rows, columns} to --json; `--check FEATURES` also compares the loop's columns
with the features stage's output, column by column.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from updown.config import FeaturesConfig, load_params

LOG2 = np.log(2)


def _since_extreme(x: pd.Series, w: int, how: str) -> np.ndarray:
    values = x.to_numpy(dtype=np.float64)
    out = np.full(len(values), np.nan)
    if len(values) >= w:
        view = np.lib.stride_tricks.sliding_window_view(values, w)[:, ::-1]
        out[w - 1 :] = np.argmax(view, axis=1) if how == "max" else np.argmin(view, axis=1)
    return out / w


def ticker_features(g: pd.DataFrame, cfg: FeaturesConfig, intraday: bool) -> pd.DataFrame:
    """Every per-ticker feature of one ticker's bars (sorted by time), the straightforward way."""
    factor = g["adj_close"] / g["close"]
    o, h, lo, c = g["open"] * factor, g["high"] * factor, g["low"] * factor, g["adj_close"]
    v = g["volume"] / factor
    logc = np.log(c)
    r1 = logc.diff()
    logv = np.log1p(v)
    dlogv = logv.diff()
    hl2 = np.log(h / lo) ** 2
    f: dict[str, Any] = {}

    for w in sorted({1, *cfg.return_windows}):
        f[f"ret_{w}"] = logc - logc.shift(w)

    oc2 = np.log(c / o) ** 2
    for w in cfg.volatility_windows:
        if w >= 2:
            f[f"vol_{w}"] = r1.rolling(w).std()
        f[f"parkinson_{w}"] = np.sqrt(hl2.rolling(w).mean() / (4 * LOG2))
        gk = (0.5 * hl2 - (2 * LOG2 - 1) * oc2).rolling(w).mean()
        f[f"garman_klass_{w}"] = np.sqrt(gk.clip(lower=0))

    for w in cfg.ma_windows:
        f[f"ma_dist_{w}"] = c / c.rolling(w).mean() - 1

    t = pd.Series(np.arange(len(g), dtype="float64"), index=g.index)
    for w in cfg.trend_windows:
        slope = logc.rolling(w).cov(t) / t.rolling(w).var()
        f[f"slope_{w}"] = slope
        f[f"rsq_{w}"] = (logc.rolling(w).corr(t) ** 2).clip(upper=1.0)
        f[f"resid_{w}"] = logc - (logc.rolling(w).mean() + slope * (w - 1) / 2)

    for w in cfg.range_windows:
        low_w, high_w = lo.rolling(w).min(), h.rolling(w).max()
        width = high_w - low_w
        f[f"range_pos_{w}"] = (c - low_w) / width.where(width > 0)
        f[f"high_dist_{w}"] = high_w / c - 1
        f[f"low_dist_{w}"] = low_w / c - 1
        f[f"since_high_{w}"] = _since_extreme(h, w, "max")
        f[f"since_low_{w}"] = _since_extreme(lo, w, "min")

    for w in cfg.quantile_windows:
        f[f"qtl_up_{w}"] = c.rolling(w).quantile(0.8) / c - 1
        f[f"qtl_down_{w}"] = c.rolling(w).quantile(0.2) / c - 1

    up = (r1 > 0).astype("float64").where(r1.notna())
    down = (r1 < 0).astype("float64").where(r1.notna())
    for w in cfg.oscillator_windows:
        moves = r1.abs().rolling(w).sum()
        f[f"rsi_{w}"] = r1.clip(lower=0).rolling(w).sum() / moves.where(moves > 0)
        f[f"up_frac_{w}"] = up.rolling(w).mean()
        f[f"down_frac_{w}"] = down.rolling(w).mean()

    rv = r1.abs() * v
    for w in cfg.volume_windows:
        f[f"volume_level_{w}"] = logv - logv.rolling(w).mean()
        f[f"volume_chg_{w}"] = logv - logv.shift(w)
        mean_v = v.rolling(w).mean()
        f[f"volume_std_{w}"] = v.rolling(w).std() / mean_v.where(mean_v > 0)
        vmoves = dlogv.abs().rolling(w).sum()
        f[f"volume_up_{w}"] = dlogv.clip(lower=0).rolling(w).sum() / vmoves.where(vmoves > 0)
        mean_rv = rv.rolling(w).mean()
        f[f"wvma_{w}"] = rv.rolling(w).std() / mean_rv.where(mean_rv > 0)

    for w in cfg.corr_windows:
        f[f"corr_pv_{w}"] = c.rolling(w).corr(logv)
        f[f"corr_rv_{w}"] = r1.rolling(w).corr(dlogv)

    if cfg.candle:
        width = (h - lo).where(h > lo)
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        f["body"] = (c - o) / o
        f["candle_range"] = (h - lo) / o
        f["body_frac"] = (c - o) / width
        f["upper_wick"] = (h - top) / o
        f["upper_frac"] = (h - top) / width
        f["lower_wick"] = (bottom - lo) / o
        f["lower_frac"] = (bottom - lo) / width
        f["shift"] = (2 * c - h - lo) / o
        f["shift_frac"] = (2 * c - h - lo) / width
        f["gap"] = np.log(o / c.shift(1))

    if cfg.calendar:
        local = g["timestamp"].dt.tz_convert(cfg.calendar_timezone)
        f["day_of_week"] = local.dt.day_of_week
        f["month"] = local.dt.month
        if intraday:
            f["hour"] = local.dt.hour

    out = pd.DataFrame(f, index=g.index)
    return out.replace([np.inf, -np.inf], np.nan)


def loop_features(panel: pd.DataFrame, cfg: FeaturesConfig, intraday: bool) -> pd.DataFrame:
    """The per-ticker loop, then cross-sectional ranks over the concatenated result."""
    parts = []
    for _, g in panel.groupby("ticker", sort=True):
        parts.append(ticker_features(g, cfg, intraday))
    features = pd.concat(parts)
    ranked = [n for n in cfg.cross_sectional if n in features.columns]
    if ranked:
        # Ranked as stored (float32), as the features stage does, so ties fall the same way.
        stored = features[ranked].astype("float32")
        ranks = stored.groupby(panel["timestamp"]).rank(pct=True)
        for n in ranked:
            features[f"cs_rank_{n}"] = ranks[n]
    features.insert(0, "timestamp", panel["timestamp"])
    features.insert(0, "ticker", panel["ticker"])
    return features


def compare(ours: pd.DataFrame, stage_file: Path, max_fraction: float = 1e-4) -> dict[str, Any]:
    """Column by column: do the loop's values match the features stage's (stored float32)?

    A column agrees when at most `max_fraction` of its values differ beyond float32 rounding:
    windows of constant prices give 0/0, which the two ways of summing can round to NaN or to a
    tiny number. Every mismatch is counted in the result.
    """
    theirs = pd.read_parquet(stage_file)
    common = [c for c in ours.columns if c in theirs.columns and c not in ("ticker", "timestamp")]
    missing = [c for c in theirs.columns if c not in ours.columns]
    mismatches: dict[str, int] = {}
    for col in common:
        a = ours[col].to_numpy(dtype="float64")
        b = theirs[col].to_numpy(dtype="float64")
        n_bad = int((~np.isclose(a, b, rtol=2e-3, atol=2e-5, equal_nan=True)).sum())
        if n_bad:
            mismatches[col] = n_bad
    differ = [c for c, n in mismatches.items() if n > max_fraction * len(ours)]
    agree = len(common) - len(differ)
    return {
        "columns_compared": len(common),
        "columns_agreeing": agree,
        "columns_differing": differ,
        "values_mismatched": mismatches,
        "stage_columns_not_in_loop": missing,
        "summary": f"{agree}/{len(common)} columns agree with the features stage"
        + (f"; differ: {differ}" if differ else "")
        + (f"; not computed by the loop: {missing}" if missing else ""),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["loop", "vectorised"], required=True)
    parser.add_argument("--prices", required=True, type=Path)
    parser.add_argument("--params", default="params.yaml", type=Path)
    parser.add_argument("--json", required=True, type=Path, help="where to write the timings")
    parser.add_argument("--check", type=Path, help="features stage output to compare with")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    cfg, intraday = params.features, params.data.interval != "1d"
    panel = pd.read_parquet(args.prices)
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if args.mode == "loop":
        features = loop_features(panel, cfg, intraday)
    else:
        from updown.learn.features import make_features

        features = make_features(panel, cfg, intraday=intraday)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "mode": args.mode,
        "compute_s": round(wall, 3),
        "cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 3),
        "rows": len(features),
        "columns": len(features.columns) - 2,
        "tickers": int(panel["ticker"].nunique()),
    }
    if args.check:
        check = compare(features, args.check)
        result["check"] = check["summary"]
        result["check_detail"] = check
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
