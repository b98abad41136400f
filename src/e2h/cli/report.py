"""`e2h report` (placeholder)."""


def report_command() -> None:
    """Write the report of a run."""
    raise NotImplementedError
