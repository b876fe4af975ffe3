"""The token checks every prompt relies on (rankexp.prompts.core), on a tokenizer whose merges the test
decides: one token per character, plus whatever multi-character tokens a case adds."""

from __future__ import annotations

import pytest

from rankexp.errors import ConfigError
from rankexp.prompts.core import encode, label_lines, label_token_ids, single_tokens

BOS = 1


class CharTokenizer:
    """Greedy longest match over `merges`, else one token per character (id = code point + 1000)."""

    def __init__(self, merges: dict[str, int] | None = None, aliases: dict[str, str] | None = None,
                 drops: str = "") -> None:
        self.merges = merges or {}
        self.aliases = aliases or {}  # characters that share another character's id
        self.drops = drops  # characters the tokenizer's normaliser removes

    def _id(self, piece: str) -> int:
        if piece in self.merges:
            return self.merges[piece]
        return 1000 + ord(self.aliases.get(piece, piece))

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        text = "".join(c for c in text if c not in self.drops)
        ids, i = [BOS] if add_special_tokens else [], 0
        while i < len(text):
            match = max((m for m in self.merges if text.startswith(m, i)), key=len, default=text[i])
            ids.append(self._id(match))
            i += len(match)
        return ids

    def decode(self, ids: list[int]) -> str:
        by_id = {v: k for k, v in self.merges.items()} | {BOS: "<s>"}
        return "".join(by_id[i] if i in by_id else chr(i - 1000) for i in ids)


def test_encode_adds_no_special_tokens():
    assert encode(CharTokenizer(), "ab") == [1000 + ord("a"), 1000 + ord("b")]


def test_label_ids_are_the_tokens_after_the_prefix():
    tok = CharTokenizer()
    assert label_token_ids(tok, ["A", "B", "C"]) == [1000 + ord(c) for c in "ABC"]
    assert label_token_ids(tok, ["A", "B"], context_prefix="") == [1000 + ord("A"), 1000 + ord("B")]


NOT_ONE_TOKEN, REPEATED = r"`task\.labels`: label .* is not a single token", r"`task\.labels` .* repeated token ids"


@pytest.mark.parametrize(("tok", "labels", "message"), [
    (CharTokenizer(), ["A", "BC"], NOT_ONE_TOKEN),  # two tokens
    (CharTokenizer(merges={"\nA": 11}), ["A", "B"], NOT_ONE_TOKEN),  # merges with the prefix before it
    (CharTokenizer(merges={"B\n": 12}), ["A", "B"], NOT_ONE_TOKEN),  # merges with the prefix after it
    (CharTokenizer(aliases={"b": "B"}), ["B", "b"], NOT_ONE_TOKEN),  # its token decodes to another label
    (CharTokenizer(drops="\u200b"), ["A", "\u200b"], NOT_ONE_TOKEN),  # no token at all
    (CharTokenizer(), ["A", "A"], REPEATED),
], ids=["two_tokens", "merged_before", "merged_after", "decodes_to_another", "dropped", "repeated"])
def test_labels_that_are_not_one_distinct_token_are_refused(tok, labels, message):
    with pytest.raises(ConfigError, match=message):
        label_token_ids(tok, labels)


def test_a_label_the_tokenizer_drops_is_refused_without_a_prefix():
    with pytest.raises(ConfigError, match=r"`task\.labels`"):
        label_token_ids(CharTokenizer(drops="\u200b"), ["A", "\u200b"], context_prefix="")


def test_label_lines_give_label_ids_and_the_newline_id():
    tok = CharTokenizer()
    newline = 1000 + ord("\n")
    assert label_lines(tok, ["A", "B", "C"]) == ([1000 + ord(c) for c in "ABC"], newline)
    assert label_lines(tok, ["A", "B"]) == ([1000 + ord("A"), 1000 + ord("B")], newline)
    assert label_lines(tok, ["A"]) == ([1000 + ord("A")], newline)  # no separator: the bare newline's id


@pytest.mark.parametrize(("tok", "labels"), [
    (CharTokenizer(), ["A", "BC", "D"]),  # a label of two tokens
    (CharTokenizer(merges={"B\n": 12}), ["A", "B", "C"]),  # a label merged with its line break
    (CharTokenizer(merges={"\nC": 13}), ["A", "B", "C"]),  # a line break merged with the next label
    (CharTokenizer(aliases={"b": "B"}), ["B", "b"]),  # two labels, one id
    # the right number of tokens, but a label swallowed its line break: the lines no longer alternate
    (CharTokenizer(merges={"B\n": 12}), ["A", "B", "CD"]),
    (CharTokenizer(merges={"\nC": 13}), ["A", "B", "C", "DE"]),
])
def test_label_lines_refuse_labels_that_split_or_merge(tok, labels):
    with pytest.raises(ConfigError, match=r"`task\.labels`"):
        label_lines(tok, labels)


def test_single_tokens_refuse_long_or_repeated_answers():
    tok = CharTokenizer()
    assert single_tokens(tok, "pointwise", ["1", "2"]) == [1000 + ord("1"), 1000 + ord("2")]
    with pytest.raises(ConfigError, match="pointwise answer '10' is 2 tokens"):
        single_tokens(tok, "pointwise", ["1", "10"])
    with pytest.raises(ConfigError, match="repeated token ids"):
        single_tokens(CharTokenizer(aliases={"y": "Y"}), "pairwise", ["Y", "y"])
