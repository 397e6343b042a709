"""The one exception type the CLI turns into a one-line message and exit code 1."""


class UpdownError(Exception):
    """Expected bad input or environment: the message names the file, ticker or key at fault."""
