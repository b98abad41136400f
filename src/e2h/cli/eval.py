"""Evaluate one learner on one dataset and print accuracy (placeholder)."""


def eval_command() -> None:
    """Evaluate one learner on one dataset."""
    raise NotImplementedError
