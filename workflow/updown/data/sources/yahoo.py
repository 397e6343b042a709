"""Yahoo Finance bars through `yfinance.download`, many tickers per request.

Yahoo answers an unknown, delisted or unreachable ticker with no rows rather than an error, so an
empty answer is retried with backoff and, if it stays empty, reported by name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import time
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pandas as pd

from updown.data.sources.normalise import YAHOO_COLUMNS, normalise
from updown.errors import UpdownError

if TYPE_CHECKING:
    from updown.config import DataConfig

log = logging.getLogger(__name__)

# The transport failed (as opposed to Yahoo answering "no data"): DNS, refused, timed out, TLS.
_NETWORK_FAILURE = re.compile(
    r"Timeout|ConnectionError|DNSError|ProxyError|SSLError|curl: \((?:5|6|7|28|35|52|56)\)"
)
HOURLY_HISTORY_DAYS = 730  # Yahoo refuses 1h bars that start further back than this
_PRICES = ["Open", "High", "Low", "Close", "Adj Close"]


def check_range(cfg: DataConfig, today: dt.date) -> None:
    """Refuse a request Yahoo is known to answer with nothing, before asking it."""
    oldest = today - dt.timedelta(days=HOURLY_HISTORY_DAYS)
    if cfg.interval == "1h" and cfg.start < oldest:
        raise UpdownError(
            f"data.start: {cfg.start} is more than {HOURLY_HISTORY_DAYS} days ago; Yahoo serves "
            f"hourly (1h) bars for the last {HOURLY_HISTORY_DAYS} days only "
            f"(use data.start on or after {oldest}, or data.interval: 1d)"
        )


def span(cfg: DataConfig) -> str:
    """The requested dates, as messages and `origin` show them."""
    return f"{cfg.start}..{cfg.end or 'newest'}"


def ticker_bars(frame: pd.DataFrame, ticker: str, cfg: DataConfig) -> pd.DataFrame | None:
    """One ticker's bars out of a multi-ticker download, in our raw layout; None if it has none."""
    symbol = ticker.upper()  # yfinance keys its columns by the upper-cased symbol
    if not isinstance(frame.columns, pd.MultiIndex):
        return None
    if symbol not in frame.columns.get_level_values(1):
        return None
    bars = frame.xs(symbol, axis=1, level=1)
    # The columns are the union over the batch and the rows the union of all dates, so a ticker
    # Yahoo did not answer, or a bar only its batch-mates have, is padded with NaN.
    prices = [c for c in _PRICES if c in bars.columns]
    bars = bars.dropna(how="all", subset=prices)
    if bars.empty:
        return None
    table = bars.rename(columns=YAHOO_COLUMNS).rename_axis("timestamp").reset_index()
    if cfg.yfinance.auto_adjust:
        # yfinance has already scaled OHLC by the adjustment and dropped "Adj Close"; any such
        # column left is NaN padding from a failed batch-mate.
        table["adj_close"] = table["close"]
    origin = f"yfinance {ticker} {cfg.interval} {span(cfg)}"
    # Daily rows come as naive New York dates; intraday ones are already zone-aware.
    return normalise(table, "America/New_York", origin=origin)


def _forget_cached_answers() -> None:
    # yfinance memoises answers for past date ranges in-process, failed ones included, so a retry
    # would replay the empty answer instead of asking Yahoo again.
    from yfinance.data import YfData

    cache_clear = getattr(YfData.cache_get, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        if text and not re.fullmatch(r"\d+ Failed downloads?:", text):
            self.messages.append(text)


@contextlib.contextmanager
def _quiet_yfinance() -> Iterator[_Collect]:
    """Keep yfinance's own error lines and pandas deprecation noise off the terminal; collect
    the errors so the one message we print can say what went wrong (DNS, refused, timeout)."""
    logger = logging.getLogger("yfinance")
    collect = _Collect()
    propagate = logger.propagate
    logger.addHandler(collect)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
            yield collect
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate


def _bounded_session(timeout: float) -> Any:
    """An HTTP session of yfinance's own kind whose every request waits at most `timeout`
    seconds, and which fails the rest of its attempt at once after one request timed out.

    yfinance applies data.yfinance.timeout_seconds to the price request only; its cookie, crumb
    and time-zone requests wait 10-30 s each, so a network that swallows packets would hold one
    attempt for minutes. With this, an attempt on a dead network costs one timeout.
    """
    from yfinance import multi

    session = multi.new_session()
    request = session.request
    timed_out: list[BaseException] = []

    def bounded(*args: Any, **kwargs: Any) -> Any:
        if timed_out:
            raise timed_out[0]
        kwargs["timeout"] = min(kwargs.get("timeout") or timeout, timeout)
        try:
            return request(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
                timed_out.append(exc)
            raise

    session.request = bounded
    return session


def _yf_error(message: str) -> str:
    """A yfinance error line, less the ticker list and curl's documentation pointer."""
    text = re.sub(r"^\[[^\]]*\]:\s*", "", message)
    text = re.sub(r"^(\w+)\(['\"](.*)['\"]\)$", r"\1: \2", text)  # Error('x') -> Error: x
    text = re.sub(r"\s*See https://curl\.se/\S+ first for more details\.?", "", text)
    text = text.rstrip(".")
    return text if len(text) <= 240 else text[:237] + "..."


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _fetch_batch(
    yf: ModuleType, batch: list[str], cfg: DataConfig, sleep: Callable[[float], object]
) -> dict[str, pd.DataFrame]:
    yc = cfg.yfinance
    got: dict[str, pd.DataFrame] = {}
    missing = list(batch)
    last_error = ""
    for attempt in range(yc.retries + 1):
        if attempt:
            sleep(yc.backoff_seconds * 2 ** (attempt - 1))
            _forget_cached_answers()
        try:
            with _quiet_yfinance() as said:
                frame = yf.download(
                    missing,
                    session=_bounded_session(yc.timeout_seconds),
                    start=cfg.start,
                    # exclusive in yfinance, ours inclusive; None: up to now
                    end=None if cfg.end is None else cfg.end + dt.timedelta(days=1),
                    interval=cfg.interval,
                    auto_adjust=yc.auto_adjust,
                    group_by="column",
                    multi_level_index=True,
                    threads=False,
                    progress=False,
                    timeout=yc.timeout_seconds,
                    actions=False,
                )
        except Exception as exc:  # yfinance and its HTTP stack raise many types; all are retried
            last_error = f"; last error: {_first_line(exc)}"
            log.warning(
                "yfinance attempt %d of %d for %s: %s",
                attempt + 1,
                yc.retries + 1,
                ", ".join(missing),
                _first_line(exc),
            )
            continue
        if said.messages:
            # With several tickers the last line may be a consequence ("no timezone found") of
            # the real cause; a transport failure, when there is one, says more.
            network = [m for m in said.messages if _NETWORK_FAILURE.search(m)]
            cause = _yf_error((network or said.messages)[-1])
            last_error = f"; last error: {cause}"
            log.warning(
                "yfinance attempt %d of %d for %s: %s",
                attempt + 1,
                yc.retries + 1,
                ", ".join(missing),
                cause,
            )
        for ticker in missing:
            bars = ticker_bars(frame, ticker, cfg) if frame is not None else None
            if bars is not None:
                got[ticker] = bars
        missing = [t for t in missing if t not in got]
        if not missing:
            return got
    attempts = yc.retries + 1
    tried = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
    if _NETWORK_FAILURE.search(last_error):
        raise UpdownError(
            f"yfinance could not reach Yahoo for {', '.join(missing)} ({cfg.interval} bars, "
            f"{span(cfg)}) {tried}{last_error}; check the network connection and any "
            "proxy, or raise data.yfinance.timeout_seconds / data.yfinance.retries; nothing "
            "was written"
        )
    raise UpdownError(
        f"yfinance returned no {cfg.interval} bars for {', '.join(missing)} between {cfg.start} "
        f"and {cfg.end or 'now'} {tried}{last_error}; check the ticker spelling (Yahoo symbols, e.g. "
        "BRK-B, ^GSPC), that Yahoo has bars in that range, and the network connection"
    )


def fetch(
    tickers: list[str],
    cfg: DataConfig,
    *,
    sleep: Callable[[float], object] = time.sleep,
    today: dt.date | None = None,
) -> dict[str, pd.DataFrame]:
    """Download `tickers` from Yahoo in batches of data.yfinance.batch_size; one frame per ticker.

    Raises UpdownError naming every ticker still without bars after the retries.
    """
    check_range(cfg, today or dt.date.today())
    import yfinance as yf  # slow to import; only this source needs it

    unique = list(dict.fromkeys(tickers))
    size = max(1, cfg.yfinance.batch_size)
    got: dict[str, pd.DataFrame] = {}
    for first in range(0, len(unique), size):
        got.update(_fetch_batch(yf, unique[first : first + size], cfg, sleep))
    return {ticker: got[ticker] for ticker in unique}
