"""Method pages quote no measured figure; they link to its section of docs/results.md, and every such link
resolves to a heading the generator writes (a renamed table must not leave a dead link behind)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", REPO / "experiments" / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings: lower case, punctuation dropped, spaces to hyphens, repeats -1, -2."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_the_anchor_rule_matches_github():
    assert github_anchors("## Hint sources: `recranker_ml100k`\n## ALRO's slot verbalizer (CPU-sized)\n## A\n## A") == {
        "hint-sources-recranker_ml100k", "alros-slot-verbalizer-cpu-sized", "a", "a-1"}


def test_every_link_into_results_md_names_one_of_its_headings():
    anchors = github_anchors((REPO / "docs" / "results.md").read_text())
    dead = [f"{page.relative_to(REPO)}: #{anchor}" for page in PAGES
            for anchor in re.findall(r"results\.md#([^)\s]+)", page.read_text()) if anchor not in anchors]
    assert not dead, dead
