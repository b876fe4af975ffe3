"""rankexp: fine-tune LLMs as rankers for recommendation (ALRO, RecRanker)."""

__version__ = "0.1.0"
