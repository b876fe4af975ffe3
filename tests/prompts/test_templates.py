"""Prompt wording is data (conf/prompt/*.yaml): overrides reach the prompt, bad templates fail naming the key."""

from __future__ import annotations

import numpy as np
import pytest

from rankexp.errors import ConfigError
from rankexp.prompts.candidate import CandidateEncoder
from rankexp.prompts.listwise import ListwiseEncoder
from rankexp.prompts.style import PromptStyle
from rankexp.prompts.templates import shipped
from tests.helpers.runs import compose_cfg, make_example

TITLES = np.array([f"Movie {i}" for i in range(20)], dtype=object)


def test_an_override_changes_the_prompt_and_the_labels_are_rechecked(tokenizer):
    lines = {**shipped("listwise"), "instruction": "Best first, letters only, one per line."}
    encoder = ListwiseEncoder(tokenizer, TITLES, list("ABCD"), PromptStyle(), 512, template=lines)
    text = encoder.render(make_example(0))
    assert "Best first, letters only, one per line." in text and "Answer with the letters" not in text
    assert encoder.label_ids == ListwiseEncoder(tokenizer, TITLES, list("ABCD"), PromptStyle(), 512).label_ids


def test_the_shipped_templates_give_the_same_text_as_before(tokenizer):
    encoder = ListwiseEncoder(tokenizer, TITLES, list("ABCD"), PromptStyle(hints=True), 512, chat_template=False)
    example = make_example(0)
    example.hints = ["avg 4.0"] * 4
    text = encoder.render(example)
    assert text.startswith("Here are movies a user watched, oldest first (rating 1-5):\n- Movie 0: ")
    assert "\nRank these 4 candidate movies from most to least liked by the user:\nA. Movie 3 [avg 4.0]\n" in text
    assert text.endswith("Answer with the letters only, one per line, best first.\nAnswer:\n")


@pytest.mark.parametrize(("key", "text", "message"), [
    ("instruction", "Answer for {user}.", "`prompt.instruction` uses unknown field(s) ['user']"),
    ("history_line", "- {title: {rating}", "`prompt.history_line` is not a valid format string"),
    ("kind", "candidate", "`prompt.kind` is 'candidate', but this encoder renders 'listwise' prompts"),
])
def test_bad_templates_name_the_key(tokenizer, key, text, message):
    with pytest.raises(ConfigError) as caught:
        ListwiseEncoder(tokenizer, TITLES, list("ABCD"), PromptStyle(), 512, template={**shipped("listwise"), key: text})
    assert message in str(caught.value)


def test_a_candidate_line_must_end_where_the_rating_follows(tokenizer):
    with pytest.raises(ConfigError, match=r"`prompt.line` must end in ':'"):
        CandidateEncoder(tokenizer, TITLES, PromptStyle(), 512, [1, 2, 3, 4, 5],
                         template={**shipped("candidate"), "line": "- {title}{hint}"})


def test_a_prompt_line_is_a_config_override():
    cfg = compose_cfg("+experiment=alro_ml100k", "prompt.listwise.instruction='Letters only, best first.'")
    assert cfg.prompt.listwise.instruction == "Letters only, best first."
    assert cfg.prompt.candidate.kind == "candidate" and cfg.prompt.recranker.kind == "recranker"
