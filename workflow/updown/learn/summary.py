"""What train hands to evaluate through `models/baselines.json`: the objective, the best round
and every fold's fitted baselines, typed, so a stale or foreign file fails with its name."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from updown.errors import UpdownError


@dataclass(frozen=True)
class FoldSummary:
    fold: int
    best_iteration: int
    rows: dict[str, int]
    baselines: dict[str, Any]  # the baselines' fitted numbers (updown.learn.baselines)


@dataclass(frozen=True)
class TrainingSummary:
    task: str
    objective: str
    metric: str
    best_iteration: int  # of the deployed (last) fold
    label_kind: str
    horizon: int
    split_mode: str
    folds: tuple[FoldSummary, ...]
    entry: str = "close"  # where the label's return starts (updown.returns)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, path: Path | str) -> TrainingSummary:
        try:
            folds = tuple(FoldSummary(**f) for f in data["folds"])
            fields = {k: data[k] for k in cls.__dataclass_fields__ if k != "folds"}
            return cls(**fields, folds=folds)
        except (KeyError, TypeError) as exc:
            raise UpdownError(
                f"{path}: not a training summary of this version of updown ({exc}): rerun train"
            ) from exc
