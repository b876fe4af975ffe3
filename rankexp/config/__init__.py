"""The run config: where the Hydra tree lives, every key's rule, the rules between keys, the resolvers.

- `conf_dir.CONF_DIR`: the shipped Hydra tree (`rankexp/conf`), importable from every layer.
- `schema`: one rule per key (`python -m rankexp.config` prints them as a table).
- `check.validate_config`: applies the schema and the cross-key rules before anything loads.
- `resolvers`: the `${rankexp.*:...}` interpolations the yamls use.
- `stored`: a run's config resolved for loggers and manifests, and read back from a run folder (old keys mapped).

Importing the package imports none of them, so a low layer can read `CONF_DIR` without pulling in the
schema.
"""
