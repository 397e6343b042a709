"""Credentials never reach a param, tag, artifact, log line or error: the scrubbing of URLs and
known secrets, and a log filter that applies it while a third-party library logs."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*):[^/\s@]*@"
)
SECRET_ENV = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def without_credentials(uri: str) -> str:
    """`uri` with no user or password at all (for links a browser should open)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def secrets_of(*uris: str | None) -> list[str]:
    """Passwords in these URIs and in MLflow's credential variables: strings never to log."""
    found = []
    for uri in uris:
        if not uri:
            continue
        with contextlib.suppress(ValueError):
            password = urlsplit(uri).password
            if password:
                found.append(password)
    found += [os.environ[k] for k in SECRET_ENV if os.environ.get(k)]
    return sorted(set(found), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """Redact URL credentials and every known secret (of 4 characters or more) in `text`."""
    text = redact(text)
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class _Scrubber(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


@contextlib.contextmanager
def scrubbed_logs(secrets: list[str]) -> Iterator[None]:
    """While MLflow runs, every log line and warning passes through the credential scrubber."""
    scrubber = _Scrubber(secrets)
    # MLflow's logger has its own handler and does not propagate to the root logger's.
    handlers = [*logging.getLogger().handlers, *logging.getLogger("mlflow").handlers]
    for handler in handlers:
        handler.addFilter(scrubber)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for handler in handlers:
            handler.removeFilter(scrubber)
