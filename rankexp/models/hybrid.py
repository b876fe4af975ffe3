"""RecRanker's hybrid ranking (the ensemble on top of the models): its formula, and one user's evaluation.

Per user (docs/recranker.md, "Hybrid ranking"): m pointwise prompts, the pairwise prompts of
`task.pairs` (all: m(m-1)/2 = 45 for m = 10; matching: m/2; x2 with `both_orders`) and one
listwise prompt. All show the same history, so each prompt is SHARED PREFIX (chat head +
instruction + history) + TASK SUFFIX (`rankexp.prompts.instructions`). The shared path runs the
prefix once at batch 1, expands its KV cache to the suffix batch (a stride-0 view, copied only
when the suffixes' keys are appended), and runs only the suffixes, with position ids continuing
after the prefix and a mask of [prefix ones; suffix padding]. The unshared path runs every
[prefix; suffix] row in full; both read the last real token's hidden state per row, and the tests
check they give the same scores.

Single-pass scores (no generation) from the LM head rows of the answer tokens at that position:
- pointwise: expected rating Σ r·P(r), P renormalised over the answer tokens `1..n`;
- pairwise: P(Yes) / (P(Yes) + P(No)), turned into wins per candidate (`pair_wins`);
- listwise: label probabilities at the first answer slot; the returned top list (positions for the
  hybrid's U_list) is the `list_top` labels ranked by that probability (the verbalizer's proxy for
  the generated list).
`hybrid_scores` combines them (form paper | code); each task alone and the retriever's own order
are scored on the same users from the same forwards.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor, nn

from rankexp.data.examples import ListwiseExample
from rankexp.data.recranker import (
    HYBRID_FORMS,
    LISTWISE_TOP,
    PAIR_SETS,
    POINTWISE_ANSWERS,
    TASKS,
    PairwiseExample,
    PredictRating,
    Score,
)
from rankexp.data.recranker_eval import listwise_eval, pairwise_eval, pointwise_eval
from rankexp.errors import ConfigError
from rankexp.evaluation.metrics import ranking_metrics
from rankexp.models.scoring import answer_probs, expected_rating, last_hidden_shared, last_hidden_unshared
from rankexp.prompts.instructions import InstructionEncoder

METHODS = ("hybrid", *TASKS, "retriever")


@dataclass
class HybridOptions:
    """The evaluation half of `conf/task/*.yaml` (pairs, both_orders, form, weights, shuffle)."""

    tasks: tuple[str, ...] = TASKS  # tasks prompted (and combined) per user
    pairs: str = "all"
    both_orders: bool = False
    form: str = "paper"
    weights: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)
    shuffle: bool = True
    list_top: int = LISTWISE_TOP
    share_prefix: bool = True
    chunk_size: int = 64  # rows per forward at most (bounds the expanded KV cache on a GPU)
    pad_waste: float = 0.25  # padding allowed per forward, as a share of real tokens (see length_groups)
    seed: int = 0

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        unknown = set(self.tasks) - set(TASKS)
        if unknown or not self.tasks:
            raise ConfigError(f"hybrid tasks must be a non-empty subset of {TASKS}, got {self.tasks}")
        if self.pairs not in PAIR_SETS:
            raise ConfigError(f"`task.pairs` must be one of {', '.join(PAIR_SETS)}, got {self.pairs!r}")
        if self.form not in HYBRID_FORMS:
            raise ConfigError(f"`task.form` must be one of {', '.join(HYBRID_FORMS)}, got {self.form!r}")
        if len(self.weights) != 3 or self.chunk_size < 1:
            raise ConfigError(f"`task.weights` needs 3 values and chunk_size >= 1, got {self.weights}, {self.chunk_size}")


@dataclass
class UserResult:
    """Scores per method, each [m] in the order of the user's `ListwiseExample.candidates`."""

    scores: dict[str, np.ndarray]
    gains: np.ndarray
    prompts: int = 0
    forwards: int = 0
    tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # raw task outputs (probabilities)
    scored: bool = True  # false: a miss never run through the model (HybridEvaluator.unscored)


# ---- the hybrid formula (docs/recranker.md) ---------------------------------------------------------------

def pointwise_rating(probs: np.ndarray, answers: Sequence[str] = POINTWISE_ANSWERS) -> np.ndarray:
    """The rating the pointwise answers predict: `expected_rating` of their probabilities (renormalised)."""
    with np.errstate(divide="ignore"):  # a zero probability is a -inf logit: softmax gives it 0
        logits = torch.as_tensor(np.log(np.asarray(probs, dtype=np.float64)))
    return expected_rating(logits, torch.tensor([float(a) for a in answers], dtype=torch.float64)).numpy()


def pair_wins(candidates: np.ndarray, examples: Sequence[PairwiseExample], p_first: np.ndarray) -> np.ndarray:
    """Wins per candidate from pairwise answers. `p_first[k]` = P(Yes) or 0/1 for examples[k].

    Each unordered pair gives its two items shares summing to 1: the mean, over the orders it was
    asked in, of "this item won". With 0/1 answers in both orders that is 1/0 when the answers
    agree and 0.5/0.5 when they contradict each other (the official code's 0.5 / 0.25 once scaled
    by its 0.5 pair weight).
    """
    index = {int(c): k for k, c in enumerate(np.asarray(candidates).tolist())}
    share: dict[tuple[int, int], list[float]] = {}
    for ex, p in zip(examples, np.asarray(p_first, dtype=np.float64)):
        a, b = index[ex.first], index[ex.second]
        key = (min(a, b), max(a, b))
        share.setdefault(key, []).append(p if a == key[0] else 1.0 - p)  # P(key[0] wins)
    wins = np.zeros(len(index))
    for (a, b), ps in share.items():
        wins[a] += np.mean(ps)
        wins[b] += 1.0 - np.mean(ps)
    return wins


def hybrid_scores(point: np.ndarray, pair_wins: np.ndarray, list_positions: Sequence[int | None],
                  form: str = "paper", weights: Sequence[float] = (1 / 3, 1 / 3, 1 / 3),
                  retriever_rank: np.ndarray | None = None, list_top: int = LISTWISE_TOP) -> np.ndarray:
    """Hybrid utility per candidate (higher = ranked higher); all inputs indexed by candidate.

    point: pointwise utility (expected or predicted rating); pair_wins: see `pair_wins`;
    list_positions: 1-based position in the returned listwise answer, None if not returned;
    retriever_rank: 0-based rank in the retriever's top-m (default: inputs are in retriever order).
    - paper: a1·point + a2·wins + a3·U_list, U_list = m - position + 1 if returned else 0.
    - code (cal_result.py): point + 0.05·(m - rank) + 0.5·wins + 0.025·(list_top - (position - 1))
      if returned; `weights` unused. m = 10 and list_top = 5 in the official run. A position past
      list_top gives a negative term, as in the code.
    """
    point = np.asarray(point, dtype=np.float64)
    wins = np.asarray(pair_wins, dtype=np.float64)
    m = len(point)
    returned = np.array([p is not None for p in list_positions])
    pos = np.array([p if p is not None else 0 for p in list_positions], dtype=np.float64)
    if form == "paper":
        a1, a2, a3 = weights
        return a1 * point + a2 * wins + a3 * np.where(returned, m - pos + 1, 0.0)
    if form == "code":
        rank = np.arange(m) if retriever_rank is None else np.asarray(retriever_rank, dtype=np.float64)
        return point + 0.05 * (m - rank) + 0.5 * wins + np.where(returned, 0.025 * (list_top - (pos - 1)), 0.0)
    raise ConfigError(f"`task.form` must be one of {', '.join(HYBRID_FORMS)}, got {form!r}")


# ---- one user ---------------------------------------------------------------------------------------

def retriever_rank(prior_scores: np.ndarray) -> np.ndarray:
    """0-based rank of each candidate in the retriever's order (best = 0)."""
    order = np.argsort(-np.asarray(prior_scores, dtype=np.float64), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


class HybridEvaluator:
    """Builds, runs and combines one user's pointwise / pairwise / listwise prompts."""

    methods = METHODS  # the rankings it returns per user (InstructionRanker logs each)

    def __init__(self, encoder: InstructionEncoder, options: HybridOptions,
                 predict_rating: PredictRating | None = None, score: Score | None = None) -> None:
        self.encoder, self.options = encoder, options
        self.predict_rating, self.score = predict_rating, score
        tok = encoder.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def prompts(self, ex: ListwiseExample, stage: int) -> list[tuple[str, object]]:
        """(task, example) per prompt. Each task gets a fresh rng with the same seed, so all draw
        the same history order first (one shared prefix); the rest of each rng shuffles its task.
        The listwise order (drawn even when that task is off) is the candidate block of every prompt
        under `candidates_in_prefix`, so the block is part of the shared prefix."""
        o, cands = self.options, np.asarray(ex.candidates, dtype=np.int64)
        rng = lambda: np.random.default_rng([abs(int(o.seed)), int(ex.user), int(stage), 41])
        hit = cands[np.asarray(ex.gains) > 0]
        target = int(hit[0]) if len(hit) else None
        shown = listwise_eval(ex.user, cands, ex.history, ex.history_ratings, rng(), o.shuffle, target, self.score)
        block = shown.candidates if self.encoder.candidates_in_prefix else None
        out: list[tuple[str, object]] = []
        if "pointwise" in o.tasks:
            out += [("pointwise", replace(e, block=block)) for e in pointwise_eval(
                ex.user, cands, ex.history, ex.history_ratings, rng(), o.shuffle, self.predict_rating)]
        if "pairwise" in o.tasks:
            out += [("pairwise", replace(e, block=block)) for e in pairwise_eval(
                ex.user, cands, ex.history, ex.history_ratings, rng(), o.shuffle, o.both_orders, o.pairs, self.score)]
        if "listwise" in o.tasks:
            out.append(("listwise", shown))
        return out

    @torch.no_grad()
    def evaluate(self, model: nn.Module, ex: ListwiseExample, stage: int = 2,
                 share_prefix: bool | None = None) -> UserResult:
        o = self.options
        shared = o.share_prefix if share_prefix is None else share_prefix
        started = time.perf_counter()
        prompts = self.prompts(ex, stage)
        prefix, suffixes, _ = self.encoder.encode_user(prompts)
        decoder = model.get_decoder()
        run = last_hidden_shared if shared else last_hidden_unshared
        hidden, forwards = run(decoder, prefix, suffixes, self.pad_id, o.chunk_size, o.pad_waste)
        result = self.combine(model, ex, prompts, hidden)
        if hidden.is_cuda:
            torch.cuda.synchronize(hidden.device)
        result.prompts, result.forwards = len(prompts), forwards
        result.tokens = (len(prefix) + sum(map(len, suffixes))) if shared else sum(len(prefix) + len(s) for s in suffixes)
        result.seconds = time.perf_counter() - started
        return result

    def unscored(self, ex: ListwiseExample) -> UserResult:
        """The result of a user whose target is not among the candidates, without running the model.

        Why exact: with all-zero gains every ranking metric is 0 whatever the scores, so this user's
        metrics equal a scored user's; only its costs (prompts, forwards, seconds) are missing (left 0).
        The keys are those `combine` returns, the retriever's real scores included."""
        if np.asarray(ex.gains).sum() > 0:
            raise ValueError(f"user {ex.user}: its target is among the candidates; only a miss may go unscored")
        m = len(ex.candidates)
        scores = {name: np.zeros(m) for name in (*self.options.tasks, "hybrid")}
        if ex.prior_scores is not None:
            scores["retriever"] = np.asarray(ex.prior_scores, dtype=np.float64)
        return UserResult(scores, np.asarray(ex.gains, dtype=np.float32), scored=False)

    def combine(self, model: nn.Module, ex: ListwiseExample, prompts: list[tuple[str, object]],
                hidden: Tensor) -> UserResult:
        o, enc = self.options, self.encoder
        cands = np.asarray(ex.candidates, dtype=np.int64)
        m = len(cands)
        slot_of = {int(c): j for j, c in enumerate(cands.tolist())}
        tasks = [t for t, _ in prompts]
        rows = {t: [i for i, name in enumerate(tasks) if name == t] for t in o.tasks}
        scores, extra = {}, {}
        point, wins, positions = np.zeros(m), np.zeros(m), [None] * m
        if rows.get("pointwise"):
            probs = answer_probs(model, hidden[rows["pointwise"]], enc.answer_token_ids["pointwise"])
            point = pointwise_rating(probs, enc.answers["pointwise"])
            scores["pointwise"], extra["pointwise"] = point, probs
        if rows.get("pairwise"):
            probs = answer_probs(model, hidden[rows["pairwise"]], enc.answer_token_ids["pairwise"])
            wins = pair_wins(cands, [prompts[i][1] for i in rows["pairwise"]], probs[:, 0])
            scores["pairwise"], extra["pairwise"] = wins, probs[:, 0]
        if rows.get("listwise"):
            shown = prompts[rows["listwise"][0]][1].candidates
            probs = answer_probs(model, hidden[rows["listwise"]], enc.answer_token_ids["listwise"][:m])[0]
            by_item = np.zeros(m)
            by_item[[slot_of[int(c)] for c in shown]] = probs
            for position, j in enumerate(np.argsort(-by_item, kind="stable")[: o.list_top], start=1):
                positions[int(j)] = position
            scores["listwise"], extra["listwise"] = by_item, probs
        prior = ex.prior_scores
        if o.form == "code" and prior is None:
            raise ConfigError("`task.form=code` adds the retriever's rank: the lists need retriever scores")
        rank = retriever_rank(prior) if prior is not None else None
        scores["hybrid"] = hybrid_scores(point, wins, positions, o.form, o.weights, rank, o.list_top)
        if prior is not None:
            scores["retriever"] = np.asarray(prior, dtype=np.float64)
        return UserResult(scores, np.asarray(ex.gains, dtype=np.float32), extra=extra)


def summarize(results: list[UserResult], ks=(3, 5), prefix: str = "test") -> dict[str, float]:
    """Mean metrics over ALL users (a miss has all-zero gains and scores 0) per method:
    `{prefix}/{method}/{ndcg|hr|mrr}@k`, plus per-user cost means."""
    out: dict[str, float] = {}
    if not results:
        return out
    gains = torch.as_tensor(np.stack([r.gains for r in results]))
    for method in METHODS:
        if all(method in r.scores for r in results):
            scores = torch.as_tensor(np.stack([r.scores[method] for r in results]), dtype=torch.float32)
            for name, values in ranking_metrics(scores, gains, ks).items():
                out[f"{prefix}/{method}/{name}"] = float(values.mean())
    for key in ("prompts", "forwards", "tokens", "seconds"):
        out[f"{prefix}/{key}_per_user"] = float(np.mean([getattr(r, key) for r in results]))
    out[f"{prefix}/users"] = float(len(results))
    out[f"{prefix}/target_in_candidates"] = float(np.mean([r.gains.sum() > 0 for r in results]))
    return out


