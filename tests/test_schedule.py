"""The live loop's schedule (updown.live.schedule) and a retrain's clock params."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from updown.config import RetrainConfig, load_params
from updown.live.retrain import clock_params
from updown.live.schedule import (
    LoopState,
    bars_since,
    gate_figures,
    gate_metric,
    matured_bars,
    retrain_reason,
    shadow_over,
)

CFG = RetrainConfig(
    every_bars=20, on_drift=True, min_bars=5, shadow_bars=3, margin=0.0, metric="auto",
    roll_split=True,
)  # fmt: skip


def state(bars: int, challenger: str = "", matured: int = 0, drifted: bool = False) -> LoopState:
    return LoopState(bars, challenger, matured, drifted)


def test_retrain_is_due_every_bars_after_the_last_one_and_not_before() -> None:
    assert retrain_reason(state(19), CFG) is None
    assert "20 bars" in str(retrain_reason(state(20), CFG))


def test_no_retrain_while_a_challenger_shadows_the_champion() -> None:
    assert retrain_reason(state(40, challenger="3"), CFG) is None
    assert retrain_reason(state(40, challenger="3", drifted=True), CFG) is None


def test_a_drift_alert_retrains_once_min_bars_have_passed() -> None:
    assert retrain_reason(state(4, drifted=True), CFG) is None
    assert "drift" in str(retrain_reason(state(5, drifted=True), CFG))
    off = dataclasses.replace(CFG, on_drift=False)
    assert retrain_reason(state(5, drifted=True), off) is None


def test_the_shadow_period_ends_when_shadow_bars_have_matured() -> None:
    assert not shadow_over(state(3, challenger="2", matured=2), CFG)
    assert shadow_over(state(3, challenger="2", matured=3), CFG)
    assert not shadow_over(state(3, challenger="", matured=9), CFG)


def test_bars_since_counts_the_steps_after_the_last_retrain_and_this_one() -> None:
    days = pd.Series(pd.date_range("2018-06-01", periods=10, freq="D", tz="UTC"))
    now = pd.Timestamp("2018-06-11", tz="UTC")
    assert bars_since(days, days[3], now) == 7  # days 4..9 and now
    assert bars_since(days, None, now) == 11
    assert bars_since(days.iloc[:0], None, now) == 1


def _calls(role: str, version: str, p: list[float], realised: list[float]) -> pd.DataFrame:
    n = len(p)
    return pd.DataFrame(
        {
            "ticker": ["A", "B"] * (n // 2),
            "as_of": np.repeat(pd.date_range("2018-06-01", periods=n // 2, tz="UTC"), 2),
            "role": role,
            "model_version": version,
            "p_up": p,
            "score": p,
            "direction": ["up" if x > 0.5 else "down" for x in p],
            "realised": realised,
        }
    )


def test_the_gate_compares_both_models_on_the_same_calls_only() -> None:
    realised = [0.01, -0.01, 0.02, -0.02]
    champion = _calls("champion", "1", [0.4, 0.6, 0.4, 0.6], realised)  # every call wrong
    extra = _calls("champion", "1", [0.9, 0.1, 0.9, 0.1], [0.01, -0.01, 0.02, -0.02]).assign(
        as_of=pd.Timestamp("2018-05-01", tz="UTC")
    )  # champion calls on bars the challenger did not shadow: left out
    shadow = _calls("shadow", "2", [0.6, 0.4, 0.6, 0.4], realised)  # every call right
    rows = pd.concat([extra, champion, shadow], ignore_index=True)
    champ, chall = gate_figures(rows, "2")
    assert champ["rows"] == chall["rows"] == 4
    assert champ["hit_rate"] == 0.0 and chall["hit_rate"] == 1.0
    assert matured_bars(rows, "2") == 2 and matured_bars(rows, "") == 0


def test_the_gate_metric_defaults_to_the_headlines_live_figure() -> None:
    params = load_params("params.yaml")
    assert gate_metric(params) == "roc_auc"  # direction label: ROC AUC
    raw = {**params.raw, "retrain": {**params.raw["retrain"], "metric": "hit_rate"}}
    assert gate_metric(dataclasses.replace(params, retrain=RetrainConfig(**raw["retrain"]))) == (
        "hit_rate"
    )


@pytest.mark.parametrize("roll", [True, False])
def test_a_retrain_sees_bars_up_to_its_clock_and_rolls_the_split(roll: bool) -> None:
    raw = load_params("params.yaml").raw
    now = pd.Timestamp("2018-07-11 04:00", tz="UTC")
    anchor = pd.Timestamp("2018-06-01 04:00", tz="UTC")
    out = clock_params(raw, now, anchor, roll)
    assert out["data"]["end"] == "2018-07-11"
    moved = {"train_end": "2015-02-09", "valid_end": "2017-02-09"}
    kept = {k: raw["split"][k] for k in moved}
    assert {k: out["split"][k] for k in moved} == (moved if roll else kept)
    assert raw["data"]["end"] == "2018-12-31"  # the caller's params are left alone
    assert clock_params(raw, now, None, True)["split"]["train_end"] == raw["split"]["train_end"]
