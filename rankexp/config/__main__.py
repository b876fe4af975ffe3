"""`python -m rankexp.config`: every checked config key, its allowed values and its meaning (markdown)."""

import sys

from rankexp.config.schema import schema_table

sys.stdout.write(schema_table() + "\n")
