"""The label stage as shard jobs and a gather (see updown.learn.shards): a shard labels its
tickers, or with `label.excess` computes their forward returns, and the gather takes the
cross-ticker mean at each bar."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from updown.config import LabelConfig
from updown.learn.label import forward_part, label_attrs, labels_from_part, make_labels
from updown.learn.shards import KEYS, in_panel_order


def label_shard(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """The shard's labels, or with `label.excess` their per-ticker part (forward_part), which
    the gather finishes against every ticker at the same bar."""
    if not len(panel):
        return panel[KEYS]
    if cfg.excess:
        return forward_part(panel, cfg)
    return make_labels(panel, cfg)


def label_gather(frames: Iterable[pd.DataFrame], cfg: LabelConfig) -> pd.DataFrame:
    """The labels of every shard in panel order, with make_labels' attrs; with `label.excess`
    the cross-sectional mean is taken here, over every ticker."""
    gathered = in_panel_order(frames)
    if cfg.excess:
        return labels_from_part(gathered, cfg)
    gathered.attrs = label_attrs(cfg)
    return gathered
