"""Bad configuration: unknown names and out-of-range values fail early, naming the config key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from rankexp.errors import ConfigError
from rankexp.losses import build_losses, permutation_kl, soft_lambda_loss


def test_gamma_must_be_positive():
    y = torch.full((1, 3, 3), 1 / 3)
    with pytest.raises(ConfigError, match="loss.soft_lambda.gamma"):
        soft_lambda_loss(y, torch.tensor([[3.0, 2.0, 1.0]]), gamma=0)


def test_negative_alpha_or_beta():
    with pytest.raises(ConfigError, match="loss.soft_lambda.weight"):
        build_losses({"soft_lambda": {"weight": -0.5}})
    with pytest.raises(ConfigError, match="loss.perm_kl.weight"):
        build_losses({"perm_kl": {"weight": -1}})


def test_unknown_loss_name():
    with pytest.raises(ConfigError, match=r"unknown loss 'listnet'.*shipped: \['perm_kl', 'rating_ce', 'sft', 'soft_lambda'\]"):
        build_losses(["sft", "listnet"])


def test_perm_kl_with_one_candidate():
    y = torch.ones((1, 1, 1))
    with pytest.raises(ConfigError, match="loss.perm_kl"):
        permutation_kl(y, y)


def test_unknown_retriever_name():
    from rankexp.retrievers import build_retriever

    with pytest.raises(ConfigError, match=r"unknown retriever 'bert4rec'.*known:.*lightgcn"):
        build_retriever("bert4rec")


def test_unknown_sampler_name():
    from rankexp.data.sampling import build_sampler

    with pytest.raises(ConfigError, match="sampler.name"):
        build_sampler({"name": "greedy", "budget": 10})


def test_four_bit_without_gpu_is_explained():
    from rankexp.models.loading import ModelSpec

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="load_in_4bit"):
        ModelSpec(source="hub", name_or_path="meta-llama/Llama-2-7b-hf", load_in_4bit=True).load()


def test_missing_hub_model_says_how_to_supply_it(tmp_path):
    from rankexp.models.loading import ModelSpec

    with pytest.raises(ConfigError, match="model.name_or_path"):
        ModelSpec(source="hub", name_or_path=str(tmp_path / "no-such-model")).load()


def _cli(*overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rankexp.run", *overrides], capture_output=True, text=True, check=False,
                          timeout=300, env=env)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["mode=fit", "data=synthetic"], "`mode` must be one of train, eval, data, got 'fit'"),
        (["data=synthetic", "protocol.name=pointwise_lol"], "`protocol.name` must be one of explicit_listwise, rerank_topk"),
        (["data=synthetic", "model=tiny_random", "protocol.m=30", "protocol.min_history=1"], "protocol.m"),
        (["data=synthetic", "protocol=rerank_topk", "model=tiny_random"], "needs a retriever"),
        (["data=synthetic", "task.hint_format=ranked"], "task.hint_format"),
    ],
    ids=["unknown-mode", "unknown-protocol", "m-beyond-labels", "rerank-without-retriever", "unknown-hint-format"],
)
def test_cli_reports_config_errors_without_traceback(tmp_path, overrides, expected):
    done = _cli(*overrides, "logger=csv", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2, done.stderr[-2000:]
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_out_of_memory_names_the_keys_that_shrink_the_run():
    from hydra import compose, initialize_config_dir

    from rankexp.errors import OutOfMemoryHint
    from rankexp.recipes.experiment import run_with_oom_hint
    from rankexp.run import CONF_DIR, user_error

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=["default_experiment=none", "trainer=gpu", "model=llama2_7b"])

    def stage(*_):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(OutOfMemoryHint) as caught:
        run_with_oom_hint(stage, cfg, None, None)
    message = str(caught.value)
    for key in ("Tried to allocate 2.00 GiB", "train.batch_size", "model.load_in_4bit=true",
                "model.gradient_checkpointing=true", "protocol.m", "listwise stage on gpu"):
        assert key in message
    assert user_error(caught.value) is caught.value  # the CLI prints it without a traceback
