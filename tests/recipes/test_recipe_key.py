"""`recipe`: one root key names the recipe (alro | recranker | retrieval); the old spellings still mean
what they meant, with one warning line each."""

from __future__ import annotations

import logging

import pytest

from rankexp.config.check import validate_config
from rankexp.errors import ConfigError
from rankexp.models.readouts import Readout
from rankexp.recipes import model_stage
from tests.helpers.runs import compose


@pytest.mark.parametrize("overrides, recipe", [
    ((), "alro"),
    (("task=listwise",), "alro"),
    (("task=pointwise",), "recranker"),
    (("task=pairwise",), "recranker"),
    (("task=hybrid",), "recranker"),
    (("task=listwise", "recipe=recranker"), "recranker"),
    (("+experiment=alro_ml100k_candidate",), "alro"),
    (("+experiment=recranker_ml100k",), "recranker"),
    (("+experiment=recranker_ml100k_listwise",), "recranker"),
    (("+experiment=retrieval_ml100k",), "retrieval"),
])
def test_the_recipe_follows_the_task_unless_named(overrides, recipe):
    cfg = compose(*overrides)
    validate_config(cfg)
    assert cfg.recipe == recipe


def test_each_recipe_name_is_one_stage():
    from rankexp.recipes.alro import run_ranker
    from rankexp.recipes.recranker import run_recranker

    assert model_stage("alro") is run_ranker and model_stage("recranker") is run_recranker
    assert model_stage("retrieval") is None  # the retriever is fit while the lists are built
    with pytest.raises(ValueError, match="banana"):
        model_stage("banana")


@pytest.mark.parametrize("old, recipe, mode", [
    (("recranker=true",), "recranker", "train"),
    (("recranker=true", "mode=eval"), "recranker", "eval"),
    (("recranker=false",), "alro", "train"),
    (("mode=retrieval",), "retrieval", "train"),
])
def test_old_spellings_map_onto_recipe_with_one_warning(old, recipe, mode, caplog):
    cfg = compose(*old)
    with caplog.at_level(logging.WARNING, logger="rankexp.config.check"):
        validate_config(cfg)
    assert (cfg.recipe, cfg.mode, cfg.recranker) == (recipe, mode, None)
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1 and ("recipe" in warnings[0] or "remove it" in warnings[0]), warnings


@pytest.mark.parametrize("overrides, named", [
    (("recipe=banana",), "`recipe`"),
    (("task=hybrid", "recipe=alro"), "recipe=recranker"),
    (("recranker=maybe",), "`recranker`"),
    (("mode=fit",), "`mode`"),
])
def test_a_bad_recipe_is_one_line_naming_the_key(overrides, named):
    with pytest.raises(ConfigError, match=named):
        validate_config(compose(*overrides))


@pytest.mark.parametrize("stored, recipe", [
    ({"recipe": "retrieval", "task": {"name": "hybrid"}}, "retrieval"),
    ({"recipe": "${rankexp.default_recipe:${oc.select:task.name,null}}", "task": {"name": "hybrid"}}, "recranker"),
    ({"recipe": "${rankexp.default_recipe:${oc.select:task.name,null}}", "task": {"name": "listwise"}}, "alro"),
    ({"recranker": True, "task": {"name": "listwise"}}, "recranker"),  # written before `recipe` existed
    ({"recranker": False, "task": {"name": "pairwise"}}, "recranker"),
    ({"task": {"name": "listwise"}}, "alro"),
])
def test_a_stored_run_config_reads_back_with_the_recipe_it_ran(tmp_path, stored, recipe):
    """An old run folder's .hydra/config.yaml (as Hydra writes it: unresolved) names the recipe it ran, mapped
    by the one upgrade every live run goes through (`rankexp.config.check.upgrade_deprecated_keys`)."""
    import yaml

    from rankexp.config.stored import read_run_config

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(stored))
    read = read_run_config(path)
    assert read["recipe"] == recipe and read.get("recranker") is None


def test_an_unreadable_run_config_is_one_line_naming_the_file(tmp_path):
    from rankexp.config.stored import read_run_config

    path = tmp_path / "config.yaml"
    path.write_text("- a list, not a run config\n")
    with pytest.raises(ConfigError, match=r"config.yaml holds a ListConfig"):
        read_run_config(path)
    path.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config.yaml is not a readable run config"):
        read_run_config(path)


@pytest.mark.parametrize("override", ["readout=candidate", "readout=slot", "task.scoring=candidate"])
def test_a_readout_of_another_recipe_is_refused_not_ignored(override):
    with pytest.raises(ConfigError, match=r"is read by the alro recipe, and this run's is `recipe=recranker`"):
        validate_config(compose("+experiment=recranker_ml100k_listwise", override))


@pytest.mark.parametrize("scoring, readout", [("candidate", "CandidateReadout"), ("slot", "SlotReadout")])
def test_task_scoring_maps_onto_the_readout_with_one_warning(scoring, readout, caplog):
    from rankexp.models.readouts import readout_of

    cfg = compose(f"task.scoring={scoring}")
    with caplog.at_level(logging.WARNING, logger="rankexp.config.check"):
        validate_config(cfg)
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warnings == [f"`task.scoring={scoring}` is deprecated: use `readout={scoring}`"]
    assert type(readout_of(cfg)).__name__ == readout
    with pytest.raises(ConfigError, match="disagree"):
        readout_of(compose(f"task.scoring={scoring}", f"readout={'slot' if scoring == 'candidate' else 'candidate'}"))


def test_a_readout_interpolating_a_missing_key_is_one_line(tmp_path):
    from omegaconf import OmegaConf

    from rankexp.models.readouts import readout_of

    cfg = compose("readout=slot")
    cfg.readout.labels = "${task.no_such_key}"
    with pytest.raises(ConfigError, match=r"`readout` cannot be resolved: .*no_such_key"):
        readout_of(cfg)
    assert OmegaConf.select(cfg, "readout._target_").endswith("SlotReadout")


def test_root_y_over_maps_onto_the_slot_readout_with_one_warning_and_is_refused_elsewhere(caplog):
    from rankexp.models.readouts import readout_of

    cfg = compose("default_experiment=none", "y_over=labels")
    with caplog.at_level(logging.WARNING, logger="rankexp.config.check"):
        validate_config(cfg)
    warnings = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert warnings == ["`y_over=labels` is deprecated: use `readout.y_over=labels`"]
    assert cfg.y_over is None and cfg.readout.y_over == "labels" and readout_of(cfg).y_over == "labels"
    assert readout_of(compose("default_experiment=none")).y_over == "vocab"
    with pytest.raises(ConfigError, match=r"`y_over=labels` sets ALRO's Y of the slot readout; `readout=candidate`"):
        validate_config(compose("readout=candidate", "y_over=labels"))


class HalfReadout(Readout):  # a Readout subclass that leaves out `ranker`
    name = "half"

    def encoder(self, tokenizer, titles, style, max_length, *, m, rating_scale):
        return None


def test_a_readout_class_missing_part_of_the_contract_is_one_line():
    from omegaconf import open_dict

    from rankexp.models.readouts import readout_of

    cfg = compose("readout=candidate")
    with open_dict(cfg):
        cfg.readout._target_ = f"{__name__}.HalfReadout"
    with pytest.raises(ConfigError, match=r"`readout` \(half\) cannot be built.*abstract method.*ranker"):
        readout_of(cfg)


def test_a_config_with_its_recipe_unresolved_is_refused_not_read_as_no_readout():
    from rankexp.models.readouts import readout_spec

    for cfg in ({"task": {"name": "listwise"}}, {"recipe": "${rankexp.default_recipe:listwise}"}):
        with pytest.raises(ConfigError, match="read_run_config"):
            readout_spec(cfg)
