"""The one exception type for problems a user can fix.

Its message is a single line that names the problem and the fix. The CLI prints it
and exits with code 2; library callers can catch it like any other exception.
"""


class E2HError(Exception):
    """A user-facing error: bad input, a missing asset, an impossible request."""


class ConfigError(E2HError):
    """A configuration that fails validation; the message lists every problem."""
