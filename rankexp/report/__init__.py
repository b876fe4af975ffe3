"""Reading runs back: aggregate results.json files, tables, plots, and per-run media.

`python -m rankexp.report <runs dir>` is `rankexp.report.cli.main`.
"""
