"""rankexp: fine-tune LLMs as rankers for recommendation (ALRO, RecRanker)."""

__version__ = "0.1.0"

from rankexp.resolvers import register as _register_resolvers

_register_resolvers()
