"""rankexp: fine-tune LLMs as rankers for recommendation (ALRO, RecRanker).

`from rankexp import Ranker` loads a trained adapter and ranks candidates (rankexp.api); it is
imported on first use, so `import rankexp` stays light (no torch).
"""

__version__ = "0.1.0"

from rankexp.config.resolvers import register as _register_resolvers

_register_resolvers()

__all__ = ["Ranked", "Ranker", "__version__"]


def __getattr__(name: str):
    if name in ("Ranker", "Ranked"):
        from rankexp import api

        return getattr(api, name)
    raise AttributeError(f"module 'rankexp' has no attribute {name!r}")
