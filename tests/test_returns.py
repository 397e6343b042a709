"""The tradable forward return starts where a trade can enter and never spans a gap segment."""

import numpy as np
import pandas as pd
import pytest
from updown.errors import UpdownError
from updown.returns import forward_returns


def _panel() -> pd.DataFrame:
    ts = pd.date_range("2020-01-01", periods=6, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "ticker": ["A"] * 6,
            "timestamp": ts,
            "open": [10.0, 11, 12, 13, 14, 15],
            "high": [20.0] * 6,
            "low": [5.0] * 6,
            "close": [10.5, 11.5, 12.5, 13.5, 14.5, 15.5],
            "adj_close": [10.5, 11.5, 12.5, 13.5, 14.5, 15.5],
            "volume": [1.0] * 6,
            "segment": [0, 0, 0, 0, 1, 1],
        }
    )


@pytest.mark.parametrize(
    ("entry", "horizon", "start", "price"),
    [("close", 1, 0, "close"), ("next_open", 1, 1, "open"), ("next_close", 2, 1, "close")],
)
def test_return_runs_from_the_entry_bar_to_horizon_bars_later(entry, horizon, start, price):
    panel = _panel()
    r, end = forward_returns(panel, entry, horizon)
    p = panel[price].to_numpy()
    assert r.iloc[0] == pytest.approx(np.log(p[start + horizon] / p[start]))
    assert end.iloc[0] == panel["timestamp"].iloc[start + horizon]


def test_no_return_spans_a_gap_segment():
    r, end = forward_returns(_panel(), "next_open", 1)
    # Row 2 would enter at row 3 and exit at row 4, in the next segment.
    assert r.notna().tolist() == [True, True, False, False, False, False]
    assert end.isna().tolist() == [False, False, True, True, True, True]


def test_unknown_entry_is_refused_by_name():
    with pytest.raises(UpdownError, match="next_bar"):
        forward_returns(_panel(), "next_bar", 1)
