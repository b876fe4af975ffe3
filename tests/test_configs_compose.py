"""Every shipped experiment composes with the real config tree, and its cheap parts build.

torchtune-style: a config that does not compose or names a wrong key fails here, in seconds,
not an hour into a GPU job. Data is loaded only for ML-100K (when RANKEXP_DATA_DIR has it);
models are validated (`ModelSpec.__post_init__`) but never loaded.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from hydra.utils import get_method, instantiate
from omegaconf import OmegaConf

from rankexp.losses import build_losses
from rankexp.models.loading import ModelSpec
from rankexp.models.readouts import readout_spec
from tests.helpers.runs import CONF_DIR, EXPERIMENTS, compose, data_available

# Which loss terms each experiment asks for: ALRO's ablation files drop some; RecRanker trains with SFT.
ALRO_ABLATIONS = {"sft": {"sft"}, "sft_psl": {"sft", "perm_kl"}, "sft_sll": {"sft", "soft_lambda"},
                  "candidate": {"rating_ce"}}


def expected_losses(experiment: str) -> set[str] | None:
    if experiment.startswith("alro_"):
        return ALRO_ABLATIONS.get(experiment.split("_", 2)[-1], {"sft", "soft_lambda", "perm_kl"})
    if experiment.startswith("recranker_"):
        return {"sft"}
    return None

def test_every_experiment_is_tested():
    assert len(EXPERIMENTS) >= 10 and "alro_ml100k" in EXPERIMENTS


@functools.cache
def _load(name: str, root: str | None):
    from rankexp.data import load_dataset

    return load_dataset(name, root, item_noun="movie")


def _resolved(experiment: str, tmp_path: Path):
    """The experiment's config with every interpolation resolved, as a run resolves it."""
    from hydra.core.hydra_config import HydraConfig

    cfg = compose(f"+experiment={experiment}", f"paths.output_dir={tmp_path}", hydra=True)
    HydraConfig.instance().set_config(cfg)  # `${hydra:runtime.choices...}` in task_name reads it there
    plain = OmegaConf.to_container(cfg, resolve=False)
    plain.pop("hydra")
    resolved = OmegaConf.create(plain)
    OmegaConf.resolve(resolved)
    return resolved


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_builds(experiment: str, tmp_path: Path):
    cfg = _resolved(experiment, tmp_path)
    assert cfg.paths.output_dir == str(tmp_path)
    assert cfg.task_name.endswith(cfg.data.name)
    assert cfg.mode in ("train", "eval", "retrieval", "data")
    # data: the loader exists; ML-100K is actually loaded when it is here.
    assert callable(get_method(cfg.data._target_))
    available, _ = data_available(cfg.data)
    if cfg.data.name == "ml100k" and available:
        data = _load("ml100k", cfg.data.root)
        assert data.n_users == 943 and data.n_items == 1682
    # protocol / task: the numbers the prompt builder needs are sane.
    assert cfg.protocol.m >= 2
    if cfg.task.name in ("listwise", "hybrid"):  # one listwise label per candidate
        assert cfg.protocol.m <= len(cfg.task.labels)
    assert cfg.protocol.history_len >= 0
    if cfg.protocol.name == "rerank_topk":
        assert cfg.get("retriever") is not None, "rerank_topk needs a retriever"
    if cfg.mode != "train":
        return
    # losses: every configured term builds; the ablation files keep exactly their terms.
    losses = build_losses(OmegaConf.to_container(cfg.loss))
    expected = expected_losses(experiment)
    assert expected is None or set(losses) == expected, f"{experiment}: losses {sorted(losses)}"
    # model: the spec validates without loading weights.
    spec = instantiate(cfg.model)
    assert isinstance(spec, ModelSpec) and spec.max_length > 0
    assert spec.lora is not None and spec.lora["r"] > 0
    # trainer / logger / callbacks name importable classes.
    for node in [cfg.trainer, cfg.logger, *cfg.callbacks.values()]:
        if node is not None and node.get("_target_"):
            assert get_method(node._target_)


def test_a_bare_run_is_the_default_experiment():
    """`python -m rankexp.run`, `make run` and the README run one experiment; the papers' settings stay apart."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        bare = hydra_compose("run")
        named = hydra_compose("run", overrides=["+experiment=alro_ml100k_candidate"])
        paper = hydra_compose("run", overrides=["+experiment=alro_ml100k"])
    assert OmegaConf.to_container(bare) == OmegaConf.to_container(named)
    assert readout_spec(bare)["_target_"].endswith(".CandidateReadout")
    assert readout_spec(paper)["_target_"].endswith(".SlotReadout") and list(paper.loss) == ["sft", "soft_lambda", "perm_kl"]
    makefile = (CONF_DIR.parents[1] / "Makefile").read_text()
    assert "python -m rankexp.run $(if $(EXPERIMENT),+experiment=$(EXPERIMENT)) $(ARGS)" in makefile


def test_active_losses_of_the_default_run():
    from rankexp.recipes.alro import active_losses

    cfg = compose("+experiment=alro_ml100k", "loss.perm_kl.weight=0")
    assert list(active_losses(cfg)) == ["sft", "soft_lambda"]  # beta = 0 drops the permuted prompt


def test_optuna_search_composes_and_its_space_parses():
    from hydra.types import RunMode
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
    from optuna.distributions import CategoricalDistribution, LogUniformDistribution, UniformDistribution

    cfg = compose("+experiment=alro_ml100k", "hparams_search=alro_optuna", hydra=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "maximize" and sweeper.sampler.seed is not None
    assert cfg.hydra.mode == RunMode.MULTIRUN  # no `-m` needed
    assert cfg.eval.selection_metric == "ndcg@5"  # what rankexp.run returns: best val/ndcg@5
    params = dict(sweeper.params)
    # Every searched key exists in the composed config (else the trial would fail to compose).
    for key in params:
        assert OmegaConf.select(cfg, key) is not None, key
    space, fixed = create_params_from_overrides([f"{k}={v}" for k, v in params.items()])
    assert not fixed
    assert isinstance(space["loss.soft_lambda.gamma"], LogUniformDistribution)
    assert isinstance(space["optim.lr"], LogUniformDistribution)
    assert isinstance(space["loss.soft_lambda.weight"], UniformDistribution)
    assert isinstance(space["loss.perm_kl.weight"], UniformDistribution)
    assert space["model.lora.r"].choices == (4, 8, 16) and isinstance(space["model.lora.r"], CategoricalDistribution)


def _slurm_params():
    cfg = compose("hydra/launcher=submitit_slurm", hydra=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    for key in ("partition", "gpus_per_node", "timeout_min", "mem_gb", "cpus_per_task"):
        assert key in launcher
    OmegaConf.set_struct(cfg, False)
    cfg.hydra.sweep.dir = "/tmp/sweep"
    cfg.hydra.job.name = "run"
    return {k: v for k, v in OmegaConf.to_container(launcher, resolve=True).items() if k != "_target_"}


def test_slurm_launcher_composes_and_rejects_typos():
    params = _slurm_params()
    assert params["submitit_folder"] == "/tmp/sweep/.submitit/%j"
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose("hydra/launcher=submitit_slurm", "hydra.launcher.partitoin=gpu", hydra=True)


def test_submitit_accepts_every_launcher_key(tmp_path: Path, monkeypatch):
    """Build the sbatch script exactly as SlurmLauncher.launch would, without submitting."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")  # submitit looks for srun
    params = _slurm_params()
    params["partition"] = "gpu"
    # SlurmLauncher.launch: folder + max_num_timeout go to the executor, the rest to update_parameters.
    executor = submitit.AutoExecutor(cluster="slurm", folder=str(tmp_path / "%j"),
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    params.pop("submitit_folder")
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -m rankexp.run", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=1", "--time=720", "--mem=64GB", "--cpus-per-task=8"):
        assert f"#SBATCH {line}" in script, script


def test_config_dir_is_the_one_run_uses():
    import rankexp.run

    assert Path(rankexp.run.CONF_DIR) == CONF_DIR
