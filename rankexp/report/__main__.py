"""`python -m rankexp.report`: the report CLI."""

from rankexp.report.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
