"""Entry point: `python -m rankexp.run [+experiment=...] [group=option] [key=value] [-m]`.

Composes conf/run.yaml, runs the experiment and writes results.json and results.md into Hydra's
output dir. `--help` is conf/hydra/help/rankexp.yaml. The composed config goes to
`.hydra/config.yaml` (one log line points there; `print_config=true` prints the tree), and
every log line is printed once (`rankexp.io.quiet.single_log_lines`). Bad input ends with a one-paragraph
message and exit code 2, never a bare traceback; in a multirun a failed job
logs its error and the sweep goes on (lightning-hydra-template's task wrapper).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rankexp.config.conf_dir import CONF_DIR
from rankexp.errors import RankexpError, error_line, user_error
from rankexp.io.quiet import quiet_dependencies, single_log_lines
from rankexp.report.console import print_summary

log = logging.getLogger("rankexp")

os.environ.setdefault("WANDB_MODE", "offline")

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
quiet_dependencies()


def _print_tree(cfg: DictConfig) -> None:
    from omegaconf import OmegaConf
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        text = OmegaConf.to_yaml(value, resolve=False) if isinstance(value, DictConfig) else str(value)
        tree.add(str(key)).add(Syntax(text, "yaml", theme="ansi_dark"))
    Console(stderr=True).print(tree)


def show_config(cfg: DictConfig) -> None:
    """The ~250-line tree only on request (`print_config=true`); by default one line saying where it is."""
    if cfg.print_config:
        _print_tree(cfg)
        return
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    try:
        hydra_cfg = HydraConfig.get()
    except ValueError:  # composed outside a Hydra app (tests): nothing was saved
        return
    output_dir = OmegaConf.select(hydra_cfg, "runtime.output_dir")  # None when composed by the compose API
    if output_dir is None:
        return
    saved = (f"{Path(output_dir) / hydra_cfg.output_subdir / 'config.yaml'}"
             if hydra_cfg.output_subdir is not None else "not saved (hydra.output_subdir=null)")
    log.info("config: %s (print it with `--cfg job`, or before the run with print_config=true)", saved)


def _report(err: RankexpError) -> None:
    """One `error:` line on stderr (and the error in the job's log file), no traceback."""
    log.error("%s: %s", type(err).__name__, err)
    sys.stderr.write(error_line(err) + "\n")


def require_set(cfg: DictConfig) -> None:
    """A mandatory key left at `???` (e.g. `data.name` of `data=atomic`) is a ConfigError naming it."""
    from omegaconf import OmegaConf

    from rankexp.errors import ConfigError

    def walk(node: DictConfig, prefix: str):  # raw nodes: no interpolation is resolved
        for key in node:
            child = node._get_node(key)
            name = f"{prefix}{key}"
            if OmegaConf.is_config(child) and isinstance(child, DictConfig) and not child._is_missing():
                yield from walk(child, name + ".")
            elif child is not None and child._is_missing():
                yield name

    missing = sorted(walk(cfg, ""))
    if missing:
        raise ConfigError(f"{', '.join(f'`{k}`' for k in missing)} must be set on the command line "
                          f"(e.g. `{missing[0]}=<value>`); the config group leaves it open")


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


@hydra.main(config_path=str(CONF_DIR), config_name="run", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from rankexp.recipes.experiment import is_global_zero, run_experiment
    from rankexp.report.results_md import write_results_md

    try:
        require_set(cfg)
        single_log_lines()
        show_config(cfg)
        results = run_experiment(cfg)
    except Exception as err:  # a failed sweep job must not end the sweep
        cause = user_error(err)
        if cause is not None:
            _report(cause)
        if _is_multirun():
            if cause is None:
                log.exception("job failed; the sweep goes on")
            return None
        if cause is not None:
            sys.exit(2)
        raise
    out = Path(cfg.paths.output_dir)
    if is_global_zero():  # a DDP worker's results are rank 0's
        write_results_md(results, out)
        print_summary(results, out)
    metric = f"val/{cfg.eval.selection_metric}"
    value = results.get(f"best_{metric}", results.get(metric))
    return float(value) if value is not None else None


def check_composes(argv: list[str]) -> None:
    """Compose the command line once before Hydra's own run, so a composition error (an unknown option, a
    group set to null, a malformed override) or a run dir that cannot be created is one `error:` line and
    exit 2; Hydra itself prints a report and a hint about HYDRA_FULL_ERROR, and exits 1.

    Flags (`--help`, `--cfg`, `-m` sweeps, ...) go to Hydra unchecked: a sweep's values do not compose.
    """
    if any(arg.startswith("-") for arg in argv):
        return
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3", job_name="check"):
            cfg = compose("run", overrides=list(argv), return_hydra_config=True)
            run_dir = Path(str(cfg.hydra.run.dir))
    except Exception as err:  # noqa: BLE001 - any composition error is the user's command line
        text = " ".join(str(err).split()).split(" Config search path:")[0] or type(err).__name__
        sys.stderr.write(f"error: the command line does not compose: {text[:400]}\n")
        sys.exit(2)
    _check_creatable(run_dir)


def _check_creatable(run_dir: Path) -> None:
    """Create the run dir's missing folders and remove them again: Hydra creates them a moment later."""
    missing = [d for d in (run_dir, *run_dir.parents) if not d.exists()]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        sys.stderr.write(f"error: the run dir {run_dir} cannot be created ({err.strerror or err}); "
                         "set hydra.run.dir=<a writable path>\n")
        sys.exit(2)
    for folder in missing:  # deepest first
        folder.rmdir()


def cli() -> None:
    """The `rankexp-run` console script: `main` returns the sweep objective, which is not an exit code."""
    check_composes(sys.argv[1:])
    main()


if __name__ == "__main__":
    check_composes(sys.argv[1:])
    main()
