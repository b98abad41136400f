"""`e2h run` and `e2h report` (placeholder)."""


def run_command() -> None:
    """Run an experiment config."""
    raise NotImplementedError


def report_command() -> None:
    """Write the report of a run."""
    raise NotImplementedError
