"""`e2h run` (placeholder)."""


def run_command() -> None:
    """Run an experiment config."""
    raise NotImplementedError
