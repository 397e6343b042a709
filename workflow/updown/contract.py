"""The data contract: the keys, the column sets each stage hands to the next, and the task
vocabulary. One place for each fact, so that two stages can never disagree about a column."""

from __future__ import annotations

from typing import Literal, get_args

from updown.errors import UpdownError

#: Every long table (prices, labels, features, predictions) is keyed by these two columns.
KEYS: tuple[str, str] = ("ticker", "timestamp")
#: The values of one bar, as every source delivers them (adjusted close beside the raw close).
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")
#: One ticker's raw file (`data/raw/<source>/<ticker>.parquet`): no ticker column.
RAW_COLUMNS: tuple[str, ...] = ("timestamp", *PRICE_COLUMNS)
#: The validated panel (`data/interim/prices.parquet`), and the raw bars the served model takes.
PANEL_COLUMNS: tuple[str, ...] = (*KEYS, *PRICE_COLUMNS)
#: Within a ticker, the run of bars between gaps longer than validate.max_gap_days (0, 1, ...):
#: no window, label or return spans two segments.
SEGMENT = "segment"
#: The validated price panel (`data/interim/prices.parquet`).
PRICES_COLUMNS: tuple[str, ...] = (*PANEL_COLUMNS, SEGMENT)
#: What a label row says beyond its keys; `label_end` is the last bar the label looked at.
LABEL_VALUES: tuple[str, ...] = ("label", "forward_return", "label_end")
#: The labels file (`data/interim/labels.parquet`).
LABEL_COLUMNS: tuple[str, ...] = (*KEYS, *LABEL_VALUES)

Task = Literal["classification", "regression"]
CLASSIFICATION: Task = "classification"
REGRESSION: Task = "regression"

LabelKind = Literal["direction", "return", "triple_barrier"]
LABEL_KINDS: tuple[LabelKind, ...] = get_args(LabelKind)
TASK_OF_LABEL: dict[LabelKind, Task] = {
    "direction": CLASSIFICATION,
    "triple_barrier": CLASSIFICATION,
    "return": REGRESSION,
}


def task_for(label_kind: str) -> Task:
    """The learning task a label kind asks for (the loss, metrics and baselines follow it)."""
    if label_kind not in TASK_OF_LABEL:
        raise UpdownError(
            f"labels: label_kind {label_kind!r} is not one of {', '.join(sorted(TASK_OF_LABEL))}"
        )
    return TASK_OF_LABEL[label_kind]  # type: ignore[index]


def feature_columns(columns: list[str] | tuple[str, ...]) -> list[str]:
    """The feature columns of a table: everything that is neither a key nor a label value."""
    return [c for c in columns if c not in KEYS and c not in LABEL_VALUES]


#: Where evaluate's page (reports/evaluation.html) takes the header that only the track stage
#: can write (run, commit, trials, DSR): the one thing the two stages agree on about the page.
REPORT_HEADER_SLOT = "<!-- updown:header -->"
