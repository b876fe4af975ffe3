"""The instruction data of a run as JSONL (`python -m rankexp.export`; docs/export.md).

Kept apart from `rankexp.data`: the records are the prompts as the model sees them, so this
package sits above the recipes and reuses their encoders and instance builders (the layering of
tests/test_import_graph.py lets `rankexp.data` import none of them).
"""
