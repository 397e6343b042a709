"""The Dask side of `train.engine: dask` (updown.learn.train_dask): a client of the cluster
`train.dask.scheduler` names, a free port for LightGBM's network on each worker, a process's
peak memory, and the callback that makes every worker see the panel's loss each round.

LightGBM scores a metric on each machine's own rows only, so early stopping, left to itself,
stops each worker at a different round and the others wait for it forever (LightGBM issues
6351, 7009; the reason `lightgbm.dask.DaskLGBMClassifier` is not used). `MeanAcrossWorkers`
sums every worker's loss with the others' through the scheduler before the recording and
early-stopping callbacks see it, so every worker stops at the same round. That is exact for
losses that are means over rows (the objectives' own metrics).
"""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from updown.config import DaskConfig
from updown.errors import UpdownError


@contextlib.contextmanager
def quiet_dask() -> Iterator[None]:
    """Dask's own logging off for the run: a LocalCluster's scheduler and nannies log hundreds of
    lines at INFO (and a closed connection's traceback as workers stop), where the stage's log
    holds a few lines. Failures still reach this process as the tasks' exceptions."""
    import distributed  # noqa: F401  (its import sets its loggers' levels: first, then ours)

    loggers = [logging.getLogger(name) for name in ("distributed", "tornado")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def dask_client(cfg: DaskConfig) -> Iterator[Any]:
    """A client of `train.dask.scheduler`: a LocalCluster of N worker processes for `local:N`
    (closed on exit), else the running scheduler at that address."""
    with quiet_dask(), _client(cfg) as client:
        yield client


@contextlib.contextmanager
def _client(cfg: DaskConfig) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if cfg.scheduler.startswith("local:"):
        import dask

        # A worker's rows cannot be spilled (they are not Dask data), and a paused worker would
        # leave the others waiting in LightGBM's network: memory_limit only stops a worker past
        # 95 % of it, and the run with it.
        unmanaged = {f"distributed.worker.memory.{k}": False for k in ("target", "spill", "pause")}
        with dask.config.set(unmanaged):
            cluster = LocalCluster(
                n_workers=int(cfg.scheduler.removeprefix("local:")),
                threads_per_worker=cfg.threads_per_worker,
                processes=True,
                memory_limit=cfg.memory_limit or 0,
                scheduler_kwargs={"dashboard": False},
                silence_logs=logging.CRITICAL,
            )
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(cfg.scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise UpdownError(
            f"train.dask.scheduler: cannot reach the Dask scheduler at {cfg.scheduler} ({exc}): "
            "start it (dask scheduler, or a dask-jobqueue / dask-kubernetes cluster) or use local:N"
        ) from exc
    with client:
        yield client


def free_port() -> int:
    """A TCP port free on this worker's host, for LightGBM's network."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB: Linux's VmHWM, which starts anew at
    exec (ru_maxrss keeps the parent's peak across fork and exec: a worker process started
    from a large one would report the parent's)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MeanAcrossWorkers:
    """A LightGBM callback, run before record_evaluation and early_stopping: replaces each
    worker's own loss on its rows by the loss on every worker's rows (the sum of loss x weight
    over the workers, over the sum of weights), exchanged through Dask Variables each round."""

    order = 10  # record_evaluation is 20, early_stopping 30
    before_iteration = False

    def __init__(
        self, key: str, rank: int, size: int, weights: dict[str, float], timeout: float
    ) -> None:
        from distributed import get_client

        self.client = get_client()
        self.key, self.rank, self.size, self.weights, self.timeout = (
            key,
            rank,
            size,
            weights,
            timeout,
        )

    def _variable(self, step: int, rank: int) -> Any:
        from distributed import Variable

        return Variable(f"{self.key}-{step}-{rank}", client=self.client)

    def __call__(self, env: Any) -> None:
        results = env.evaluation_result_list  # (dataset, metric, value, ...): EvalResult
        mine = []
        for item in results:
            mine += [float(item[2]) * self.weights[item[0]], self.weights[item[0]]]
        self._variable(env.iteration, self.rank).set(mine)
        parts = [
            self._variable(env.iteration, r).get(timeout=self.timeout) for r in range(self.size)
        ]
        total = np.sum(np.array(parts, dtype=np.float64), axis=0)
        # Every other worker has read this worker's previous round before writing this one.
        if env.iteration > 0:
            self._variable(env.iteration - 1, self.rank).delete()
        for j, item in enumerate(results):  # in place: the later callbacks read this list
            value = float(total[2 * j] / total[2 * j + 1])
            fields = list(item)  # EvalResult (LightGBM 4.7) or a plain tuple (before)
            fields[2] = value
            results[j] = type(item)(*fields)
