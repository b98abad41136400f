"""e2h: a laboratory for easy-to-hard generalization of language models.

Submodules are imported lazily by their users; importing ``e2h`` itself is cheap.
"""

__version__ = "0.1.0"
