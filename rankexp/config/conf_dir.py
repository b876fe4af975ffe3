"""Where the Hydra config tree lives: one constant that every entry point imports.

Kept in a module of its own so that reading the path imports nothing else
(the entry points import each other's constants, never each other's code).
"""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # shipped as package data (pip install . works)
