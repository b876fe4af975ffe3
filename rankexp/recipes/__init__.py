"""Recipes: each experiment kind read top to bottom (build -> fit -> select on val -> test -> write).

- `experiment.run_experiment`: config check, data, protocol lists, baselines, then the recipe.
- `alro`: the listwise ranker (slot verbalizer or candidate readout).
- `recranker`: RecRanker's instruction tuning and hybrid ranking.
- `retrieval`: the conventional recommenders alone.
- `loop`: the fit / select / test sequence the LLM recipes share.
"""
