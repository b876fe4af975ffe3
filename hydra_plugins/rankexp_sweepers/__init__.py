"""rankexp's Hydra plugins (Hydra discovers plugins only under the hydra_plugins namespace)."""
