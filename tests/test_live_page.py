"""reports/live.html: the live figures against their band, the rolling chart, calibration, drift
and the alias history, on one self-contained page, the same bytes for the same inputs."""

from __future__ import annotations

import pandas as pd
from test_monitor import journal, metrics, panel
from updown.live.monitor import matured, monitor
from updown.live.page import render_live
from updown.live.tracking import step_series

HISTORY = pd.DataFrame(
    {
        "time": [pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2020-02-03", tz="UTC")],
        "model_name": ["m", "m"],
        "alias": ["champion", "challenger"],
        "from_version": ["", ""],
        "to_version": ["1", "2"],
        "event": ["set", "set"],
        "reason": ["first model", "retrained every 20 bars"],
    }
)


def page() -> str:
    prices = panel()
    calls = journal(prices)
    live = monitor(calls, prices, {"1": metrics(0.9, (0.8, 0.77, 0.83))}, 20, 20)
    series = {("m", "1", "champion"): step_series(matured(calls, prices), 20)}
    return render_live(live, series, HISTORY)


def test_the_page_shows_figures_against_the_band_a_chart_calibration_and_alias_moves() -> None:
    text = page()
    assert text.count("<svg") == 1 and "<script" not in text and "http" not in text.split("<svg")[0]
    assert 'class="worse"' in text and "worse than expected" in text
    assert "<h3>Calibration</h3>" in text
    assert "retrained every 20 bars" in text and "first model" in text
    assert text == page()  # deterministic
