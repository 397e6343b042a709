# Helpers shared by the rules. Each rule passes the params.yaml sections it reads through
# `params:`, so Snakemake reruns it when (and only when) those values change.

SOURCE = config["data"]["source"]
TICKERS = config["data"]["tickers"]
RAW_DIR = f"data/raw/{SOURCE}"


def section(name, exclude=()):
    """A params.yaml section, less the keys a rule must not rerun for."""
    return {k: v for k, v in config[name].items() if k not in exclude}


wildcard_constraints:
    ticker=r"[A-Za-z0-9.^=_-]+",
    source=r"sample|csv|yfinance",
