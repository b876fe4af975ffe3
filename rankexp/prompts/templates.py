"""Prompt wording as data: each prompt shape's lines live in `conf/prompt/<shape>.yaml`.

An encoder fills a `Template` with str.format fields; a prompt ablation is then a config
override (`prompt.instruction="..."`), like every other ablation. A template that names an
unknown field, or lacks a line its encoder needs, is a ConfigError naming `prompt.<key>`.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any

from rankexp.config.conf_dir import CONF_DIR
from rankexp.errors import ConfigError

SHAPES = ("listwise", "candidate", "recranker")


class Template:
    """Named str.format lines of one prompt shape (`conf/prompt/<kind>.yaml`)."""

    def __init__(self, lines: Mapping[str, Any], kind: str, fields: Iterable[str]) -> None:
        lines = {str(k): v for k, v in dict(lines).items()}
        if lines.get("kind") != kind:
            raise ConfigError(f"`prompt.kind` is {lines.get('kind')!r}, but this encoder renders {kind!r} prompts; "
                              f"pick `prompt={kind}`")
        self.kind, self.lines, self.fields = kind, lines, frozenset(fields)
        for key, text in lines.items():
            if key != "kind":
                self._check(key, str(text))

    def _check(self, key: str, text: str) -> None:
        try:
            names = {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as err:
            raise ConfigError(f"`prompt.{key}` is not a valid format string ({err}): {text!r}") from err
        unknown = sorted(names - self.fields)
        if unknown:
            raise ConfigError(f"`prompt.{key}` uses unknown field(s) {unknown}; known: {sorted(self.fields)}")

    def __call__(self, key: str, **fields: Any) -> str:
        if key not in self.lines:
            raise ConfigError(f"the {self.kind} prompt needs `prompt.{key}` (see conf/prompt/{self.kind}.yaml)")
        return str(self.lines[key]).format(**fields)


def shipped(kind: str) -> dict[str, Any]:
    """The lines of `conf/prompt/<kind>.yaml` (the default of every encoder built without a config)."""
    from omegaconf import OmegaConf

    if kind not in SHAPES:
        raise ConfigError(f"unknown prompt shape {kind!r}; shipped: {list(SHAPES)}")
    return dict(OmegaConf.to_container(OmegaConf.load(CONF_DIR / "prompt" / f"{kind}.yaml"), resolve=True))
