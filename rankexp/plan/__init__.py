"""Will a run fit a GPU? `python -m rankexp.plan +experiment=alro_ml1m --gpu-mem 80GB` answers before
gigabytes are downloaded (docs/gpu.md).

- `architecture`: the model's shape (config.json, or a table of known models when the hub is out of reach);
- `tokens`: the prompt tokens of real training lists, drawn and encoded as training does;
- `memory`: the estimate: weights, LoRA + AdamW, activations (counted on small replicas of the model,
  see `memory.activation_bytes`), and what fits;
- `measure`: one real training step's peak memory, to check the estimate (`--measure`).
"""
