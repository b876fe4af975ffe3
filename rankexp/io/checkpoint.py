"""Checkpoint files that are whole or absent, and loaded without executing pickled code.

Lightning writes a checkpoint in place; a kill -9 mid-write would leave a file
that `ckpt_path=last` later trusts. Here the bytes go to a temp file in the
same folder and are renamed into place. Loading uses `weights_only=True`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rankexp.errors import ConfigError
from rankexp.io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        atomic_write(Path(path), lambda handle: torch.save(checkpoint, handle))

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        if not Path(path).is_file():
            raise ConfigError(f"`ckpt_path`: no checkpoint file at {path}")
        try:
            return torch.load(path, map_location=map_location or "cpu", weights_only=True)
        except Exception as err:  # truncated, foreign or unsafe pickles all end here
            raise ConfigError(f"`ckpt_path`: {path} is not a readable rankexp checkpoint ({err})") from err
