"""A key typed on the command line that the run's recipe never reads is said so in one line
(rankexp.config.idle). tests/e2e/test_experiments.py checks the declaration against real runs' reads."""

from __future__ import annotations

import logging

import pytest

from rankexp.config.check import validate_config
from rankexp.config.idle import warn_idle_overrides
from tests.helpers.runs import compose, explain, run_module

RECRANKER = ["+experiment=recranker_ml100k", "default_experiment=none"]


def warned(caplog, base: list[str], typed: list[str]) -> list[str]:
    cfg = compose(*base, *typed)
    validate_config(cfg)
    with caplog.at_level(logging.WARNING, logger="rankexp.config.idle"):
        caplog.clear()
        out = warn_idle_overrides(cfg, typed)
    assert len(caplog.records) == len(out)
    return out


@pytest.mark.parametrize(("base", "typed", "why"), [
    ([], ["sampler.budget=7"], "RecRanker's user sampling"),
    ([], ["sampler=adaptive"], "RecRanker's user sampling"),
    ([], ["prompt.recranker.pointwise_question=x"], "the wording of the `recranker` prompt shape"),
    ([], ["eval.share_prefix=false"], "RecRanker's hybrid evaluation"),
    (["default_experiment=none", "task.hints=false"], ["task.hint_source=retriever_cv"], "`task.hints=false`"),
    (RECRANKER, ["loss=[sft,soft_lambda]"], "trains with SFT"),
    (RECRANKER, ["eval.position_bias_lists=3"], "trains with SFT"),
    (RECRANKER, ["train.draws_per_epoch=9"], "only while `sampler.budget` is null"),
    (["recipe=retrieval"], ["model.lora.r=4"], "ranks with the retriever alone"),
])
def test_an_idle_override_is_said_once(caplog, base, typed, why):
    assert warned(caplog, base, typed) == typed
    assert why in caplog.records[0].getMessage() and f"`{typed[0]}` changes nothing" in caplog.records[0].getMessage()


@pytest.mark.parametrize(("base", "typed"), [
    (["readout=candidate", "task.hints=true"], ["optim.lr=1e-4", "prompt.candidate.header=x", "task.hint_source=item_mean", "model.lora.r=4"]),
    ([], ["+experiment=alro_ml100k", "default_experiment=none", "hydra.run.dir=/tmp/x", "seed=3"]),
    (["default_experiment=none"], ["task.hints=true", "task.hint_source=item_mean"]),
    (RECRANKER, ["sampler.budget=7", "prompt.recranker.pointwise_question=x", "eval.share_prefix=false",
                 "task.listwise_top=3"]),
    (["recipe=retrieval"], ["train.max_test_lists=5", "eval.ks=[1,5]"]),
])
def test_a_read_override_is_not(caplog, base, typed):
    assert warned(caplog, base, typed) == []


def test_the_run_prints_the_line(tmp_path):
    proc = run_module("rankexp.run", "mode=data", "data=synthetic", "sampler.budget=7", f"hydra.run.dir={tmp_path}",
                      timeout=300)
    assert proc.returncode == 0, explain(proc)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "changes nothing" in line]
    assert len(lines) == 1 and "`sampler.budget=7` changes nothing in this run: RecRanker's" in lines[0], lines
