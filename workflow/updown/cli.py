"""`updown <stage>`: the one command per stage that Snakemake and DVC both run.

The parser is declared here; each command runs from its own module in `updown.commands`,
imported only when called, so a stage loads (and depends on) its own code alone.
Expected bad input becomes a one-line message and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from updown.errors import UpdownError, describe_error
from updown.heap import keep_freed_memory, leave_objects_to_the_exit, numpy_on_ordinary_pages

log = logging.getLogger("updown")

#: Stages that load or score LightGBM boosters and never fit a scikit-learn estimator.
BOOSTER_ONLY = frozenset({"evaluate", "track", "predict", "monitor", "replay"})

# command: (help, required flags with their help). Every stage also takes --params and --log.
STAGES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "acquire": (
        "fetch raw bars, one Parquet file per ticker",
        (("--out-dir", "folder for <ticker>.parquet"),),
    ),
    "validate": (
        "check raw bars and build the price panel",
        (
            ("--raw-dir", "folder of raw <ticker>.parquet"),
            ("--out", "price panel (Parquet)"),
            ("--report", "validation summary (JSON)"),
        ),
    ),
    "label": (
        "label each bar by what follows it",
        (("--prices", "price panel"), ("--out", "labels (Parquet)")),
    ),
    "features": (
        "compute features from the price panel",
        (("--prices", "price panel"), ("--out", "features (Parquet)")),
    ),
    "train": (
        "train LightGBM and the baselines",
        (
            ("--features", "features"),
            ("--labels", "labels"),
            ("--model", "deployed model (LightGBM text; the last fold's)"),
            ("--folds", "folder of every fold's model and loss curve"),
            ("--baselines", "baselines and fold summary (JSON)"),
            ("--curve", "loss curve of the deployed model (CSV)"),
        ),
    ),
    "evaluate": (
        "test the model and baselines on the test block",
        (
            ("--features", "features"),
            ("--labels", "labels"),
            ("--prices", "price panel (for the backtest)"),
            ("--model", "deployed model"),
            ("--folds", "folder of fold models (from train)"),
            ("--baselines", "baselines"),
            ("--validation", "validation report (tickers dropped and why)"),
            ("--metrics", "metrics (JSON)"),
            ("--headline", "headline metrics (JSON, DVC's declared metrics)"),
            ("--plots", "plots folder"),
            ("--predictions", "test predictions (Parquet)"),
            ("--report", "the evaluation's page (HTML; track adds the run's header)"),
        ),
    ),
    "track": (
        "log the result as one MLflow run",
        (
            ("--model", "model"),
            ("--features", "features"),
            ("--labels", "labels"),
            ("--prices", "price panel"),
            ("--metrics", "metrics"),
            ("--curve", "loss curve"),
            ("--evaluation", "evaluate's page (the report's body, HTML)"),
            ("--plots", "plots folder"),
            ("--validation", "validation report"),
            ("--out", "run ids (JSON)"),
            ("--report", "report: the body with the run's header (HTML)"),
        ),
    ),
    "predict": ("score the latest bar of each ticker (--out), or answer for one (--ticker)", ()),
    "monitor": (
        "score the journal's matured calls against what happened (the live loop, not the DAG)",
        (),
    ),
    "update": (
        "one step of the live loop now: acquire, predict, journal, monitor, retrain when due",
        (),
    ),
    "replay": (
        "the live loop over history with a simulated clock, in replays/<name>/ (resumable)",
        (("--start", "first day of the clock"), ("--end", "last day of the clock")),
    ),
    "dvc-yaml": ("render dvc.yaml from the Snakefile (or --check it)", ()),
    "sweep": (
        "score a grid of configurations on the validation block, the winner on test once",
        (),
    ),
    "store": ("print the MLflow store the track stage logs to (what `make ui` opens)", ()),
    "params": (
        "write --params with an overlay's keys laid over it (make run-hourly)",
        (("--overlay", "the keys to change (YAML)"), ("--out", "the merged params file")),
    ),
}
# features and label as sharded jobs (updown.learn.shards): one shard's tickers, or the gather.
SHARDED: tuple[tuple[str, dict[str, object]], ...] = (
    ("--shard", {"default": None, "metavar": "I/N", "help": "compute shard I of N only"}),
    (
        "--gather",
        {"nargs": "+", "default": None, "metavar": "SHARD", "help": "gather these shards"},
    ),
)
OPTIONAL: dict[str, tuple[tuple[str, dict[str, object]], ...]] = {
    "label": SHARDED,
    "features": SHARDED,
    "acquire": (
        ("--ticker", {"action": "append", "help": "ticker to fetch (repeatable; default: all)"}),
        (
            "--end",
            {
                "default": None,
                "help": "fetch up to this date (as data.end, which it overrides) or time (ISO "
                "8601, UTC without a zone: only bars stamped at or before it; a replay's clock)",
            },
        ),
    ),
    "track": (
        ("--baselines", {"default": None, "help": "baselines (JSON), logged as an artifact"}),
        ("--folds", {"default": None, "help": "per-fold models and loss curves (folder)"}),
    ),
    "predict": (
        ("--model", {"default": "models/model.txt", "help": "model (LightGBM text)"}),
        ("--prices", {"default": "data/interim/prices.parquet", "help": "price panel"}),
        ("--out", {"default": None, "help": "latest bar of every ticker, scored (CSV)"}),
        (
            "--run",
            {"default": "reports/mlflow_run.json", "help": "the track stage's run ids (JSON)"},
        ),
        ("--ticker", {"default": None, "help": "answer for this ticker only"}),
        (
            "--as-of",
            {
                "default": None,
                "help": "the bar to answer from: the last at or before this date (end of day, "
                "UTC) or time; default the newest",
            },
        ),
        ("--json", {"action": "store_true", "help": "print the answer as JSON"}),
        (
            "--version",
            {
                "default": None,
                "help": "with --ticker: answer with this registered version, not @champion",
            },
        ),
        (
            "--journal",
            {"action": "store_true", "help": "with --ticker: also journal the call"},
        ),
    ),
    "monitor": (
        ("--prices", {"default": "data/interim/prices.parquet", "help": "price panel"}),
        ("--metrics", {"default": "reports/metrics.json", "help": "test-period metrics"}),
        ("--model", {"default": "models/model.txt", "help": "the pipeline's model file"}),
        (
            "--features",
            {"default": "data/processed/features.parquet", "help": "features (for drift)"},
        ),
        ("--out", {"default": "reports/live.json", "help": "live figures (JSON)"}),
        ("--html", {"default": "reports/live.html", "help": "live figures for a person (HTML)"}),
    ),
    "sweep": (
        (
            "-S",
            {
                "dest": "set",
                "action": "append",
                "metavar": "KEY=V1,V2",
                "help": "params key and its values, as dvc exp run -S (repeatable: a grid)",
            },
        ),
        ("--cores", {"type": int, "default": 2, "help": "cores for each pipeline run"}),
    ),
    "update": (("--cores", {"type": int, "default": 2, "help": "cores for a retrain"}),),
    "replay": (
        ("--cores", {"type": int, "default": 2, "help": "cores for each retrain"}),
        (
            "--name",
            {
                "default": None,
                "help": "the replay's folder under replays/ (default: dates and params digest)",
            },
        ),
        (
            "--audit",
            {
                "action": "store_true",
                "help": "then check the replay's journal, monitor and alias history (exit 1 "
                "if a check fails)",
            },
        ),
    ),
    "dvc-yaml": (
        ("--check", {"action": "store_true", "help": "exit 1 if dvc.yaml is not current"}),
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="updown", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")
    for name, (help_, required) in STAGES.items():
        p = sub.add_parser(name, help=help_)
        p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
        p.add_argument("--log", default=None, help="also write the log to this file")
        for flag, what in required:
            p.add_argument(flag, required=True, help=what)
        for flag, options in OPTIONAL.get(name, ()):
            p.add_argument(flag, **options)  # type: ignore[arg-type]
    return parser


def command_module(stage: str) -> str:
    """The module that runs `updown <stage>`."""
    return f"updown.commands.{stage.replace('-', '_')}"


def _setup_logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _setup_logging(args.log)
        importlib.import_module(command_module(args.stage)).run(args)
    except (UpdownError, OSError) as exc:
        # OSError: a disk that is full, read-only or refuses us, met outside io.py's helpers.
        message = " ".join(describe_error(exc).split())
        log.debug("details", exc_info=True)
        print(f"updown {args.stage}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"updown {args.stage}: interrupted", file=sys.stderr)
        return 130
    return 0


def _lightgbm_without_sklearn() -> None:
    """Import LightGBM as it imports where scikit-learn is absent: `import lightgbm` imports
    scikit-learn (and scipy.stats) for its LGBMModel wrappers, ~0.55 s of a process that only
    needs the Booster. Only for the `updown` command itself: an interpreter that may fit a
    wrapper later (a test session, a Dask client) imports LightGBM whole."""
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # what an ImportError reads
    try:
        import lightgbm  # noqa: F401
    finally:
        del sys.modules["sklearn"]


def entry() -> int:
    """The `updown` console script: `main` on the command line's arguments, in a process whose
    heap keeps freed memory, whose numpy arrays sit on ordinary pages and whose objects are left
    to the exit (updown.heap)."""
    keep_freed_memory()
    numpy_on_ordinary_pages()
    stage = sys.argv[1] if len(sys.argv) > 1 else ""
    if stage in BOOSTER_ONLY:
        _lightgbm_without_sklearn()
    try:
        return main()
    finally:
        leave_objects_to_the_exit()


if __name__ == "__main__":
    sys.exit(entry())
