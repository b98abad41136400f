"""Every random choice in e2h comes from a ``numpy.random.Generator`` made here.

``make_rng(seed, "split", "arc")`` derives an independent stream per purpose from the
config's seed, so adding a new random step never shifts the numbers of an old one.
"""

import zlib

import numpy as np


def make_rng(seed: int, *purpose: str | int) -> np.random.Generator:
    """A generator for ``seed`` and a purpose path (e.g. ``("split", "arc", "grade")``)."""
    keys = [zlib.crc32(str(part).encode()) for part in purpose]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *keys]))


def torch_seed(rng: np.random.Generator) -> int:
    """A seed for ``torch.manual_seed`` drawn from ``rng``."""
    return int(rng.integers(0, 2**31 - 1))
