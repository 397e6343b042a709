"""Choosing a sweep's winner on validation scores alone, and what choosing the best of N costs.

The winner is picked by `choose`, which sees the configurations' validation scores and nothing
else: no test figure exists while it runs. The best of N validation scores is optimistic by
about the expected maximum of N draws; `deflated_score` takes that much off (the same
expected-maximum formula the Deflated Sharpe Ratio uses), and the winner's test figure, scored
once, is the honest out-of-sample number beside it.
"""

from __future__ import annotations

import numpy as np

from updown.assess.sharpe import expected_max_z
from updown.errors import UpdownError


def choose(scores: list[float], higher_is_better: bool) -> int:
    """The index of the best finite validation score (the first of equals, in grid order)."""
    values = np.array(scores, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise UpdownError("sweep: no configuration has a validation score: see each one's log")
    ranked = np.where(finite, values if higher_is_better else -values, -np.inf)
    return int(np.argmax(ranked))


def deflated_score(scores: list[float], winner: int, higher_is_better: bool) -> float:
    """The winner's validation score less the luck of picking the best of N: the spread of the
    N scores times the expected maximum of N standard normal draws."""
    values = np.array(scores, dtype=np.float64)
    values = values[np.isfinite(values)]
    spread = float(np.std(values, ddof=1)) if len(values) >= 2 else 0.0
    luck = spread * expected_max_z(max(len(values), 1))
    return float(scores[winner] - luck if higher_is_better else scores[winner] + luck)
