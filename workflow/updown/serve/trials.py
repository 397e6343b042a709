"""How many configurations have been tried on the same data and test block: counted in the
MLflow experiment, not assumed.

Each run is tagged with its configuration (the SHA-256 of the params that can change the
evaluated result), its test block (first and last test bar) and, through `sha256.prices`, its
data snapshot; it logs the model's per-bar Sharpe as a metric. A later run counts the distinct
configurations among the runs with its data hash and test block, its own included, and takes
the variance of their Sharpe ratios for the Deflated Sharpe Ratio.

Deleted runs count too: deleting a disappointing run in the UI does not undo having tried it.
Params that cannot change the evaluated result (where the run is logged, `mlflow.*`; how the
served model scores new bars, `predict.*`) do not make a new configuration. Anything else does,
even a thread count that a deterministic LightGBM ignores: counting one configuration too many
only makes the deflation stricter.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from updown.assess.deflation import TrialCount

if TYPE_CHECKING:
    from mlflow import MlflowClient

CONFIG_TAG = "trial.config"
TEST_BLOCK_TAG = "trial.test_block"
DATA_TAG = "sha256.prices"
SHARPE_METRIC = "trial.sharpe_per_bar"
NOT_A_TRIAL = ("mlflow.", "predict.")
PAGE = 1000


def config_sha256(logged: dict[str, str]) -> str:
    """The configuration's identity: the logged params (dotted, as strings) that can change
    the evaluated result."""
    kept = {k: v for k, v in logged.items() if not k.startswith(NOT_A_TRIAL)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def block_tag(test_block: tuple[str, str] | None) -> str:
    return "/".join(test_block) if test_block else "unknown"


def trial_tags(config: str, test_block: tuple[str, str] | None) -> dict[str, str]:
    return {CONFIG_TAG: config, TEST_BLOCK_TAG: block_tag(test_block)}


def count_trials(
    client: MlflowClient,
    experiment_id: str,
    data_sha256: str,
    test_block: tuple[str, str] | None,
    config: str,
    own_sharpe: float | None,
) -> TrialCount:
    """The distinct configurations logged with this data snapshot and test block, plus this
    one; per configuration the model's per-bar Sharpe of its newest run (this result's own for
    its configuration)."""
    from mlflow.entities import ViewType

    query = (
        f"tags.`{DATA_TAG}` = '{data_sha256}' and "
        f"tags.`{TEST_BLOCK_TAG}` = '{block_tag(test_block)}'"
    )
    sharpes: dict[str, float | None] = {}
    token = None
    while True:
        runs = client.search_runs(
            [experiment_id],
            filter_string=query,
            run_view_type=ViewType.ALL,
            order_by=["attributes.start_time DESC"],
            max_results=PAGE,
            page_token=token,
        )
        for run in runs:
            key = run.data.tags.get(CONFIG_TAG)
            if key and key not in sharpes:  # newest first: the first seen is the newest
                sharpes[key] = run.data.metrics.get(SHARPE_METRIC)
        token = runs.token
        if not token:
            break
    sharpes[config] = own_sharpe
    known = tuple(sorted(v for v in sharpes.values() if v is not None))
    return TrialCount(len(sharpes), known, data_sha256, test_block)
