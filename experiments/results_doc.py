"""docs/results.md and the README's results table, generated from experiments/results/*.json.

Every measured number in the docs comes from a JSON beside its command, seeds, lists and machine;
this script is the only writer of docs/results.md and of the README blocks between the
`<!-- generated:NAME -->` / `<!-- /generated:NAME -->` markers, so neither can drift from the JSONs.
A JSON this script does not know stops it with an error naming the file: a new result gets a table
here (one function per file) instead of being silently left out.

    python experiments/results_doc.py           # rewrite docs/results.md and the README blocks
    python experiments/results_doc.py --check   # exit 1 with a diff when a file differs (tests run this)
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "experiments" / "results"
DOC = REPO / "docs" / "results.md"
README = REPO / "README.md"


# ---------------------------------------------------------------- formatting


def f3(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def s3(x: float | None) -> str:
    """Signed, and never "-0.000" (a rounded zero reads as a sign it does not have)."""
    if x is None:
        return ""
    text = f"{x:+.3f}"
    return "+0.000" if text == "-0.000" else text


def pm(mean: float | None, sd: float | None, signed: bool = False) -> str:
    fmt = s3 if signed else f3
    return fmt(mean) if sd is None else f"{fmt(mean)} ± {f3(sd)}"


def seeds_text(values, fmt=f3) -> str:
    return " / ".join(fmt(v) for v in values)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def facts(source: str, **items: object) -> str:
    """The line under each heading: where the numbers come from and how they were made."""
    parts = [f"Source: {', '.join(f'`experiments/results/{s}`' for s in source.split(', '))}"]
    parts += [f"{key.replace('_', ' ').capitalize()}: {value}" for key, value in items.items() if value]
    return "\n".join(f"- {p}" for p in parts)


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    values = [v for v in values if v is not None]
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


# ---------------------------------------------------------------- one function per table


def span(values: list, unit: str) -> str:
    return f"{values[0]}-{values[1]} {unit}" if values[0] != values[1] else f"{values[0]} {unit}"


PHASE_FLOPS = {"train": "train", "val": "eval", "test": "eval"}  # bench_speed.json's flops_per_token of a phase


def phase_gflops(phases: dict, phase: str, speed_figures: dict) -> float:
    """GFLOP/s of the decoder's matmuls in one phase of a run: its tokens/s times FLOPs per token (bench_speed.json's,
    for the same LoRA layers)."""
    return phases[f"speed/{phase}_tokens_per_s"] * speed_figures["flops_per_token"][PHASE_FLOPS[phase]] / 1e9


def run_phases(m: dict, speed_figures: dict | None = None) -> str:
    """Where a `make run` row's time went, from its run's results.json `speed/*` (rankexp.recipes.callbacks.
    PhaseTimes); with `speed_figures` (bench_speed.json of the same machine kind and precision), each phase's
    share of that machine's matmul rate (bench_speed.json's FLOPs per training token, 2N per scored one)."""
    phases = m.get("phases")
    if not phases:
        return ""

    def share(phase: str) -> str:
        if speed_figures is None or speed_figures["precision"] != m["precision"]:
            return ""
        return f", {phase_gflops(phases, phase, speed_figures) / speed_figures['limit_gflops']:.0%} of the matmul rate"

    return (f"training steps {phases['speed/train_s']:.0f} s ({phases['speed/train_tokens_per_s']:.0f} tokens/s"
            f"{share('train')}), {phases['speed/validations']} validations {phases['speed/val_s']:.0f} s "
            f"({phases['speed/val_tokens_per_s']:.0f} tokens/s{share('val')}), "
            f"test {phases['speed/test_s']:.0f} s ({phases['speed/test_tokens_per_s']:.0f} tokens/s{share('test')})")


def make_commands(d: dict, speed_figures: dict) -> str:
    def outcome(results: dict | None) -> str:
        if not results:
            return ""
        gap, se = results["paired_test/llm_minus_item_mean/ndcg@5"]
        return (f"; test NDCG@5 {f3(results['test/ndcg@5'])}, LLM minus item mean {s3(gap)} ± {f3(se)} (paired s.e.), "
                f"top-1 agreement over 5 orders {results['position_bias/top1_agreement']:.2f}")

    def floor(m: dict) -> str:
        """The seconds this run's tokens would take at the machine's matmul rate: what no speed-up can beat."""
        phases = m.get("phases")
        if not phases or speed_figures["precision"] != m["precision"]:
            return ""
        gflop = sum(phases[f"speed/{phase}_s"] * phase_gflops(phases, phase, speed_figures) for phase in PHASE_FLOPS)
        seconds = gflop / speed_figures["limit_gflops"]
        return (f"at the matmul rate of bench_speed.json ({speed_figures['limit_gflops']:.0f} GFLOP/s), the same "
                f"tokens would take {seconds:.0f} s: the run spends {seconds / m['wall_s'][0]:.0%} of its wall time "
                "on the decoder's matmul FLOPs")

    def detail(m: dict) -> str:
        phases = run_phases(m, speed_figures)
        return "; ".join(part for part in (m.get("caveat", ""),
                                           f"{span(m['s_per_step'], 's')} per step" + outcome(m.get("results")),
                                           phases, floor(m), m.get("note", "")) if part)

    rows = [["`make run`", f"{m['machine']}, {m['date']}" + (f", at {m['commit']}" if m.get("commit") else ""),
             span(m["wall_s"], "s"), detail(m)] for m in d["make_run"]]
    for t in d["make_test"]:
        counted = f"{t['passed']} passed" + (f", {t['skipped']} skipped" if t["skipped"] is not None else "")
        rows.append(["`make test`", t["machine"] + (f", {t['date']}" if t["date"] else ""), f"{t['wall_s']} s",
                     counted + (f"; {t['note']}" if t.get("note") else "")])
    return "\n\n".join([
        "## The two commands",
        facts("make_commands.json", command=f"`{d['command']}`"),
        table(["command", "machine", "wall time", "detail"], rows),
        (f"A first `make run` also creates `.venv` (about {d['first_install_s_approx'] // 60} min) and converts the "
        f"bundled GGUF once (about {d['gguf_conversion_s_approx']} s, cached in `~/.cache/rankexp`).")])


def candidate_main(d: dict) -> tuple[str, float]:
    llm_gap = [g for g, _ in d["paired_test/llm_minus_item_mean/ndcg@5"]]
    rows = []
    for name, metrics in d["test"].items():
        label = name + (f" ({', '.join(str(w) for w in d['fusion_weights'])})" if name.startswith("fusion") else "")
        rows.append([label] + [pm(*metrics[k]) if k in metrics else "" for k in ("ndcg@1", "ndcg@3", "ndcg@5",
                                                                                   "ndcg@10")])
    paired = table(["seed", "LLM minus item mean (paired s.e.)", "fusion minus item mean (paired s.e.)"],
                   [[str(s), pm(*a, signed=True), pm(*b, signed=True)] for s, a, b in
                    zip(d["seeds"], d["paired_test/llm_minus_item_mean/ndcg@5"],
                        d["paired_test/fusion_minus_item_mean/ndcg@5"])])
    curve = d["val_curve"]
    curve_rows = [[seed.replace("_", " ")] + [f3(v) for v in curve[seed]] for seed in curve if seed != "steps"]
    base = d["baselines"]
    base_rows = [[lists] + [f3(v) for v in values.values()] for lists, values in base["test/ndcg@5"].items()]
    runs = ", ".join(f"seed {r['seed']} at {r['git_sha']} ({r['wall_time_s']} s)" for r in d.get("runs", []))
    before = d["before_fix"]
    gaps = [g for g, _ in before["paired_test/llm_minus_item_mean/ndcg@5"]]
    before_text = (f"The same seeds before the fix of the bf16 expected rating (one list per step, LoRA dropout 0.05): "
                   f"LLM test NDCG@5 "
                   f"{pm(*before['test']['LLM alone (candidate readout)']['ndcg@5'])}, LLM minus item mean "
                   f"{seeds_text(gaps, s3)} (mean {s3(statistics.mean(gaps))}), top-1 agreement over 5 orders "
                   f"{pm(*before['position_bias/top1_agreement'])}.")
    text = "\n\n".join([
        "## Candidate readout on ML-100K (ours, the default run)",
        facts("candidate_ml100k.json", command=f"`{d['command']}`", seeds=", ".join(map(str, d["seeds"])),
              lists=f"{d['lists']['val']} validation, {d['lists']['test']} test (all)", machine=d["machine"],
              runs=runs, note=d.get("note")),
        "Test NDCG (mean ± s.d. over seeds; the non-LLM rows are on the same lists):",
        table(["row", "NDCG@1", "NDCG@3", "NDCG@5", "NDCG@10"], rows),
        (f"Paired per-list differences on the {d['lists']['test']} test lists (mean of the LLM's: "
        f"{s3(statistics.mean(llm_gap))}):"),
        paired,
        (f"Top-1 agreement over 5 candidate orders: {pm(*d['position_bias/top1_agreement'])} (chance 0.100). "
        f"Validation NDCG@5 over training (val item mean {f3(d['val_item_mean_ndcg@5'])}):"),
        table(["", *(f"step {s}" for s in curve["steps"])], curve_rows),
        before_text,
        f"Non-LLM baselines on the explicit lists (`{base['command']}`), test NDCG@5:",
        table(["lists", *next(iter(base["test/ndcg@5"].values())).keys()], base_rows)])
    return text, statistics.mean(llm_gap)


def lever_history(cand: dict, slot: dict, ablation: dict, value_rank: dict, orders: dict, ema: dict,
                  batch: dict, dropout: dict, top_layers: dict, batch3: dict) -> str:
    """Each lever on the candidate readout and what it gave, as LLM minus item mean on the same lists. Levers
    measured before the fix of the bf16 expected rating are compared with the default as measured then."""
    def gap_row(lever, override, gaps, measured, vs_default=""):
        return [lever, override, seeds_text(gaps, s3), s3(statistics.mean(gaps)), vs_default, measured]

    before = cand["before_fix"]
    current_gaps = [g for g, _ in cand["paired_test/llm_minus_item_mean/ndcg@5"]]
    default_gaps = [g for g, _ in before["paired_test/llm_minus_item_mean/ndcg@5"]]  # what older levers compare with
    then = ", one list per step, before the fix"
    alro = slot["rows"]["+experiment=alro_ml100k"]
    cols = slot["columns"]
    alro_gap = alro[cols.index("test/ndcg@5")][0] - alro[cols.index("baseline_test/item_mean/ndcg@5")][0]
    rows = [gap_row("ALRO's slot verbalizer, full loss (the paper's form)", "`+experiment=alro_ml100k`", [alro_gap],
                    f"{slot['lists']['test']} lists, {slot['split']}, mean of {alro[0]} seeds"),
            gap_row("candidate readout + rating CE + item-mean hints, 2 lists per step, no LoRA dropout, LoRA on "
                    "the top 15 layers (the default)", "", current_gaps, f"{cand['lists']['test']} lists, seeds 0 / 1 / 2")]
    for name, label, override in (("all_layers", "LoRA on every layer (the default before)", "`model.lora.top_layers=null`"),
                                  ("top_8", "LoRA on the top 8 layers", "`model.lora.top_layers=8`")):
        seeds = top_layers[name]["seeds"]
        if name == "all_layers":  # paired against the default's runs: the sign of top 15 minus all, turned round
            vs = seeds_text([-r["minus_all_layers"] for r in top_layers["top_15"]["seeds"]], s3) + " (paired)"
        else:  # both paired against every layer on seed 0: their difference
            vs = s3(seeds[0]["minus_all_layers"] - top_layers["top_15"]["seeds"][0]["minus_all_layers"])
        rows.append(gap_row(label, override, [r["llm_ndcg@5"] - r["item_mean_ndcg@5"] for r in seeds],
                            f"707 lists, seed{'s' if len(seeds) > 1 else ''} "
                            f"{' / '.join(str(i) for i in range(len(seeds)))}", vs))
    three = batch3["batch_3"]["seeds"]
    rows.append(gap_row("three lists per step (the time the top layers saved)", "`train.batch_size=3`",
                        [r["llm_ndcg@5"] - r["item_mean_ndcg@5"] for r in three], "707 lists, seeds 0 / 1 / 2",
                        seeds_text([r["minus_batch_2"] for r in three], s3) + " (paired)"))
    b = list(batch["seeds"].values())
    paired = [-r["minus_dropout_0.05"] for r in dropout["dropout_0"]["seeds"] if "minus_dropout_0.05" in r]
    rows.append(gap_row("LoRA dropout 0.05, 2 lists per step, every layer", "`model.lora.dropout=0.05 "
                        "model.lora.top_layers=null`",
                        [v["paired_test/llm_minus_item_mean/ndcg@5"] for v in b],
                        f"{b[0]['lists']} lists, seeds {' / '.join(batch['seeds'])}",
                        f"{seeds_text(paired, lambda v: s3(v))} (paired against every layer without dropout, "
                        f"seed{'s' if len(paired) > 1 else ''} {' / '.join(str(i) for i in range(len(paired)))})"))
    rows.append(gap_row("one list per step, LoRA dropout 0.05", f"`{batch['baseline']} model.lora.dropout=0.05 model.lora.top_layers=null`",
                        [v["default_paired_test/llm_minus_item_mean/ndcg@5"] for v in b],
                        f"{b[0]['lists']} lists, seeds {' / '.join(batch['seeds'])}",
                        pm(-batch["minus_default_mean"], batch["minus_default_sd"], signed=True)
                        + " (against 2 per step, both with dropout 0.05)"))
    rows.append(gap_row("one list per step, measured before the fix", f"`{batch['baseline']}`", default_gaps,
                        f"{cand['lists']['test']} lists, seeds 0 / 1 / 2{then}"))
    for key, lever, override in (("psl", "+ PSL", "`loss=[rating_ce,perm_kl]`"),
                                 ("sll", "+ SLL", "`loss=[rating_ce,soft_lambda]`"),
                                 ("full", "+ SLL + PSL", "`loss=[rating_ce,soft_lambda,perm_kl]`")):
        runs = ablation[key]
        gaps = [s["llm_ndcg@5"] - s["item_mean_ndcg@5"] for s in runs["seeds"]]
        rows.append(gap_row(lever, override, gaps, f"707 lists, seeds 0 / 1 / 2{then}",
                            pm(runs["minus_sft_mean"], runs["minus_sft_sd"], signed=True)))
    fmt = cand["hint_format_seed_0"]["rows"]
    rank = fmt["rank"]["llm_minus_item_mean"]
    rows.append(gap_row("hint written as a rank", "`task.hint_format=rank`", [rank[0]], f"707 lists, seed 0{then}",
                        s3(rank[0] - fmt["value (the default)"]["llm_minus_item_mean"][0])))
    vr = [fmt["value_rank"]["llm_minus_item_mean"][0]] + [
        s["paired_test/llm_minus_item_mean/ndcg@5"] for s in value_rank["value_rank"].values()]
    rows.append(gap_row("hint as value and rank", "`task.hint_format=value_rank`", vr,
                        f"707 lists, seeds 0 / 1 / 2{then}",
                        s3(statistics.mean(vr) - statistics.mean(default_gaps))))
    o = orders["seed0_rank_format"]
    rows.append(gap_row("5 candidate orders averaged (on the rank-hint run)", "`eval.test_orders=5`",
                        [o["paired_test/orders_minus_item_mean/ndcg@5"]], f"707 lists, seed 0{then}",
                        f"{pm(o['paired_test/orders_minus_llm/ndcg@5'], o['paired_test/orders_minus_llm/ndcg@5_se'], True)}"
                        f" (val {s3(o['val_orders/ndcg@5'] - o['val_orders/one_order_ndcg@5'])})"))
    e = [s["paired_test/llm_minus_item_mean/ndcg@5"] for s in ema["ema"].values()]
    rows.append(gap_row("EMA of the adapter weights", "`callbacks.weight_ema.decay=0.95`", e,
                        f"707 lists, seeds 0 / 1 / 2{then}", s3(statistics.mean(e) - statistics.mean(default_gaps))))
    fusion = [g for g, _ in cand["paired_test/fusion_minus_item_mean/ndcg@5"]]
    rows.append(gap_row("fusion with the item mean (its own row, not the LLM)", "`eval.fusion=item_mean`", fusion,
                        "707 lists, seeds 0 / 1 / 2"))
    screens = cand["validation_screens"]
    screen_rows = [[f"`{r['override']}`" if not r["override"].startswith("(") else r["override"], r["val"],
                    f3(r.get("test/ndcg@5 (first 200 lists)"))] for r in screens["rows"]]
    seeds12 = cand["hint_format_seed_0"]["rank_seeds_1_2_best_val"]
    screen_rows.append(["`task.hint_format=rank`, seeds 1 / 2", (f"best {seeds_text(seeds12['rank'])} (default "
                        f"{seeds_text(seeds12['value'])})"), ""])
    return "\n\n".join([
        "## Levers on the candidate readout and what each gave (ML-100K)",
        ("- Sources: `candidate_ml100k.json`, `alro_ml100k_slot.json`, `ablation_candidate.json`, "
        "`hint_value_rank_candidate.json`, `order_averaging.json`, `weight_ema_candidate.json`, "
        "`batch_candidate.json`, `lora_dropout_candidate_b2.json`, `lora_top_layers_candidate.json`, "
        "`batch3_candidate.json`\n"
        "- Measure: test NDCG@5 of the LLM minus the item mean on the same lists (negative: below the item mean); "
        "\"vs the default\": the paired difference to the default run of the same seed (mean ± s.d. over seeds), "
        "or the difference of the means. Rows measured before the fix of the bf16 expected rating (commit 87cc4ed), "
        "all with one list per step, are compared with the default as measured then (one list per step). Every row "
        "but the default's and the top-8 row's ran with LoRA on every layer: add `model.lora.top_layers=null` to repeat "
        "one"),
        table(["lever", "override", "LLM minus item mean, per seed", "mean", "vs the default", "measured on"], rows),
        f"Screened on validation only{then} (`{screens['command']}`):",
        table(["override", "validation NDCG@5", "test NDCG@5"], screen_rows)])


def batch_size(d: dict) -> str:
    """Two lists per training step against the default's one, the same seeds and lists, paired per list."""
    rows = [[seed, f"{f3(v['best_val/ndcg@5'])} / {f3(v['default_best_val/ndcg@5'])}",
             f"{f3(v['test/ndcg@5'])} / {f3(v['default_test/ndcg@5'])}",
             pm(v["paired_test/llm_minus_item_mean/ndcg@5"], v["paired_test/llm_minus_item_mean/ndcg@5_se"], True),
             pm(v["paired_test/minus_default/ndcg@5"], v["paired_test/minus_default/ndcg@5_se"], True),
             f"{v['wall_time_s']} / {v['default_wall_time_s']} s"] for seed, v in d["seeds"].items()]
    return "\n\n".join([
        f"## Two lists per step (`{d['override']}`, the default) against one, both with LoRA dropout 0.05",
        facts("batch_candidate.json", command=f"`{d['command']}`", machine=d["machine"]),
        table(["seed", "best val NDCG@5 (2 / 1 per step)", "test NDCG@5 (2 / 1 per step)",
               "LLM minus item mean, 2 per step (paired s.e.)", "2 minus 1 per step (paired s.e.)",
               "wall time (2 / 1 per step)"], rows),
        (f"Mean best validation NDCG@5: {f3(d['best_val_mean'])} with two lists per step, "
         f"{f3(d['default_best_val_mean'])} with one; validation picks {d['validation_picks']}, the default since. "
         f"Test, two minus one list per step: {pm(d['minus_default_mean'], d['minus_default_sd'], signed=True)} "
         "(mean ± s.d. over seeds).")])


def ablation_candidate(d: dict) -> str:
    names = {"sft": "`[rating_ce]` (SFT)", "sll": "`[rating_ce,soft_lambda]` (+SLL)",
             "psl": "`[rating_ce,perm_kl]` (+PSL)", "full": "`[rating_ce,soft_lambda,perm_kl]` (full)"}
    rows = []
    for key, label in names.items():
        runs = d[key]["seeds"]
        diffs = " / ".join("" if "minus_sft" not in s else pm(s["minus_sft"], s["minus_sft_se"], True)
                           + (" (unpaired)" if s["minus_sft_se"] is None else "") for s in runs)
        rows.append([label, seeds_text([s["llm_ndcg@5"] for s in runs]), diffs if key != "sft" else "",
                     pm(d[key]["minus_sft_mean"], d[key]["minus_sft_sd"], True) if key != "sft" else "",
                     seeds_text([s["llm_ndcg@5"] - s["item_mean_ndcg@5"] for s in runs], s3)])
    fp32 = d["sft_fp32_seed2"]
    return "\n\n".join([
        "## ALRO's loss terms on the candidate readout",
        facts("ablation_candidate.json", command="`python -m rankexp.run +experiment=alro_ml100k_candidate "
              "loss=<terms> seed=S`, then `python experiments/paired_runs.py --ref sft sft=<run> sll=<run> psl=<run> "
              "full=<run>`", seeds="0 / 1 / 2 in every cell", lists="707 test lists",
              machine="2-core AVX512-BF16 CPU in bf16-mixed, except " + fp32["machine"].split(";")[0]
              + " for PSL seed 2, paired with a rating-CE run of that machine"),
        table(["`loss=`", "test NDCG@5", "minus rating CE (paired s.e.)", "mean minus rating CE (s.d.)",
               "LLM minus item mean"], rows),
        (f"The fp32 rating-CE run that PSL seed 2 is paired with: test NDCG@5 {f3(fp32['llm_ndcg@5'])}, LLM minus "
        f"item mean {s3(fp32['llm_ndcg@5'] - fp32['item_mean_ndcg@5'])}. Note: {d['note']}.")])


def alro_slot(d: dict) -> str:
    short = [c.replace("baseline_test/", "").replace("position_bias/", "") for c in d["columns"]]
    rows = [[f"`{name}`", str(vals[0]), *(pm(*v) if v[0] is not None else "" for v in vals[1:])]
            for name, vals in d["rows"].items()]
    walls = "; ".join(f"`{k}` {a}-{b} s" if a != b else f"`{k}` {a} s" for k, (a, b) in d["wall_s"].items())
    return "\n\n".join([
        "## ALRO's slot verbalizer on ML-100K (the paper's form, CPU-sized)",
        facts("alro_ml100k_slot.json", command=f"`{d['command']}`", seeds="0, 1, 2 (n = 3) or 0 (n = 1)",
              lists=f"{d['lists']['val']} validation, the first {d['lists']['test']} test lists; {d['split']}",
              machine=d["machine"]),
        table(["config", *short], rows),
        f"Wall time per run: {walls}."])


def hint_value_rank(d: dict) -> str:
    rows = [[seed.replace("seed_", ""), f3(s["test/ndcg@5"]), pm(s["paired_test/llm_minus_item_mean/ndcg@5"],
             s["paired_test/llm_minus_item_mean/ndcg@5_se"], True), f3(s["best_val/ndcg@5"]),
             f3(s["test_fusion/ndcg@5"]), f"{s['wall_time_s']:.0f} s"] for seed, s in d["value_rank"].items()]
    return "\n\n".join([
        "## The hint as value and rank (`task.hint_format=value_rank`)",
        facts("hint_value_rank_candidate.json", command=f"`{d['command']}`", seeds="1, 2",
              lists=f"{d['lists']['val']} validation, {d['lists']['test']} test"),
        table(["seed", "test NDCG@5", "LLM minus item mean (paired s.e.)", "best val NDCG@5", "fusion NDCG@5",
               "wall time"], rows)])


def hint_format_seed0(cand: dict) -> str:
    h = cand["hint_format_seed_0"]
    rows = [[f"`{name}`", str(r["tokens_per_prompt"]), f3(r["best_val/ndcg@5"]), f3(r["test/ndcg@5"]),
             pm(*r["llm_minus_item_mean"], signed=True), f"{r['wall_s']} s" if "wall_s" in r else ""]
            for name, r in h["rows"].items()]
    return "\n\n".join([
        "## How the hint is written (seed 0)",
        facts("candidate_ml100k.json", part="`hint_format_seed_0`", command=f"`{h['command']}`", seeds="0",
              lists="100 validation, 707 test",
              note="measured before the fix of the bf16 expected rating (commit 87cc4ed)"),
        table(["`task.hint_format`", "tokens per prompt", "best val NDCG@5", "test NDCG@5",
               "LLM minus item mean (paired s.e.)", "wall time"], rows)])


def order_averaging(d: dict, probe: dict) -> str:
    o = d["seed0_rank_format"]
    rows = [[f"NDCG@{k}", f3(o[f"test/ndcg@{k}"]), f3(o[f"test_orders/ndcg@{k}"])] for k in (1, 3, 5, 10)]
    k_rows = [[str(k), f3(probe[f"mean_of_{k}_ndcg@5"]), pm(*probe[f"mean_of_{k}_minus_one_order"], True),
               pm(*probe[f"mean_of_{k}_minus_item_mean"], True)] for k in range(2, probe["orders"] + 1)]
    return "\n\n".join([
        "## Averaging candidate orders (`eval.test_orders`)",
        facts("order_averaging.json", command=f"`{d['command']}`", seeds="0", lists="100 validation, 707 test",
              machine=d["machine"], not_measured=d["not_measured"]),
        table(["test", "one order", "5 orders averaged"], rows),
        (f"Paired: 5 orders minus one order {pm(o['paired_test/orders_minus_llm/ndcg@5'], o['paired_test/orders_minus_llm/ndcg@5_se'], True)}; "
        f"5 orders minus item mean {pm(o['paired_test/orders_minus_item_mean/ndcg@5'], o['paired_test/orders_minus_item_mean/ndcg@5_se'], True)}. "
        f"Validation: {f3(o['val_orders/ndcg@5'])} averaged vs {f3(o['val_orders/one_order_ndcg@5'])} one order "
        f"(val item mean {f3(o['baseline_val/item_mean/ndcg@5'])}). Wall time {o['wall_time_s']:.0f} s."),
        ("The post-hoc probe that suggested it (`probe_order_averaging.json`, "
        f"`{probe.get('command', d['probe_seed1_value_format']['command'])}`; {probe['run_dir']}, first "
        f"{probe['lists']} test lists, one order {f3(probe['one_order_ndcg@5'])}, item mean "
        f"{f3(probe['item_mean_ndcg@5'])}):"),
        table(["orders averaged", "NDCG@5", "minus one order (s.e.)", "minus item mean (s.e.)"], k_rows)])


def weight_ema(d: dict) -> str:
    base = d["no_ema_same_seeds"]
    rows = [[seed.replace("seed_", ""), f3(s["test/ndcg@5"]), f3(b_test), pm(
        s["paired_test/llm_minus_item_mean/ndcg@5"], s["paired_test/llm_minus_item_mean/ndcg@5_se"], True),
             s3(b_gap), f3(s["best_val/ndcg@5"]), f"{s['wall_time_s']:.0f} s"]
            for (seed, s), b_test, b_gap in zip(d["ema"].items(), base["test/ndcg@5"],
                                                base["paired_test/llm_minus_item_mean/ndcg@5"])]
    return "\n\n".join([
        "## An EMA of the adapter weights (`callbacks.weight_ema.decay=0.95`)",
        facts("weight_ema_candidate.json", command=f"`{d['command']}`", seeds="0, 1, 2",
              lists=f"{d['lists']['val']} validation, {d['lists']['test']} test"),
        table(["seed", "test NDCG@5", "without EMA", "LLM minus item mean (paired s.e.)", "without EMA",
               "best val NDCG@5", "wall time"], rows)])


def probe_hint_rounding(d: dict) -> str:
    rows = [[split, str(d[split]["lists"]), f3(d[split]["item_mean_ndcg@5"])]
            + [f"{f3(d[split][r]['ndcg@5'])} ({pm(d[split][r]['minus_exact'], d[split][r]['se'], True)})"
               for r in ("rounded_1", "rounded_2")] for split in ("val", "test")]
    return "\n\n".join([
        "## What rounding the hint costs (probe)",
        facts("probe_hint_rounding.json", command="`python experiments/probe_hint_rounding.py`",
              machine=f"{d['machine']}, {d['torch_threads']} thread"),
        table(["lists", "n", "item mean NDCG@5", "rounded to 1 decimal (minus exact, s.e.)",
               "rounded to 2 decimals (minus exact, s.e.)"], rows)])


def probe_rating_ceiling(d: dict) -> str:
    rows = [[str(g["dim"]), str(g["reg"]), f3(g["val_ndcg@5"]), pm(g["val_minus_item_mean"],
             g["val_minus_item_mean_se"], True)] for g in d["grid"]]
    c = d["chosen_on_val"]
    return "\n\n".join([
        "## How far above the item mean a train-only rating model gets (probe)",
        facts("probe_rating_ceiling.json", command="`python experiments/probe_rating_ceiling.py`",
              lists=f"{d['lists']['val']} validation, {d['lists']['test']} test (the explicit lists)",
              machine=f"{d['machine']}, {d['torch_threads']} thread"),
        (f"Biased MF (ALS) on train ratings; item mean NDCG@5: val {f3(d['item_mean_ndcg@5']['val'])}, test "
        f"{f3(d['item_mean_ndcg@5']['test'])}. Chosen on validation: dim {c['dim']}, reg {c['reg']}; test NDCG@5 "
        f"{f3(c['test_ndcg@5'])}, minus item mean {pm(c['test_minus_item_mean'], c['test_minus_item_mean_se'], True)}."),
        table(["dim", "reg", "val NDCG@5", "val minus item mean (s.e.)"], rows)])


def bench_retrievers(d: dict) -> str:
    names = {"pop": "Pop", "mf": "MF", "lightgcn": "LightGCN", "sasrec": "SASRec"}
    rows = []
    for key, label in names.items():
        s = d["summary"][key]
        rows.append([label] + [pm(s[f"{m}/mean"], s[f"{m}/std"] or None) for m in
                               ("test/ndcg@10", "test/hr@10", "test/ndcg@5", "val/ndcg@10")] + [f"{s['fit_s/mean']:.1f}"])
    m = d["machine"]
    return "\n\n".join([
        "## Conventional recommenders on ML-100K",
        facts("bench_retrievers.json", command="`python experiments/bench_retrievers.py --threads 2`",
              seeds=f"{len({r['seed'] for r in d['runs']})} per model (Pop is deterministic)",
              lists=f"{d['protocol']}; {d['n_test']} test users",
              machine=f"{m['cpus']} CPUs, {m['torch_threads']} torch threads, torch {m['torch']}"),
        table(["model", "test NDCG@10", "test HR@10", "test NDCG@5", "val NDCG@10", "fit s"], rows)])


def rerank_candidate(d: dict) -> str:
    order = ["LightGCN (its own order)", "LLM (candidate readout)", "fusion z(LLM)+w z(item mean)",
             "fusion z(LLM)+w z(retriever score)", "item mean", "popularity", "random", "LLM, hits only (test_subset)"]
    assert set(order) == set(d["rows"]), sorted(d["rows"])
    metrics = ["hr@3", "hr@5", "hr@10", "ndcg@3", "ndcg@5"]
    rows = [[name] + [pm(*mean_sd(d["rows"][name][m])) for m in metrics] for name in order]
    p = d["paired"]
    fr = d["fusion_retriever"]
    paired = table(["seed", "LLM minus LightGCN", "LLM minus item mean", "fusion (LightGCN score) minus LightGCN",
                    "its w"], [[str(i), pm(p["paired_test/llm_minus_retriever/ndcg@5"][i],
                                           p["paired_test/llm_minus_retriever/ndcg@5_se"][i], True),
                                pm(p["paired_test/llm_minus_item_mean/ndcg@5"][i],
                                   p["paired_test/llm_minus_item_mean/ndcg@5_se"][i], True),
                                pm(fr["paired_test/fusion_minus_retriever/ndcg@5"][i],
                                   fr["paired_test/fusion_minus_retriever/ndcg@5_se"][i], True),
                                f"{fr['weight'][i]:g}"] for i in range(3)])
    return "\n\n".join([
        "## Reranking LightGCN's top-10 with the candidate readout (ours)",
        facts("rerank_candidate.json", command=f"`{d['command']}`; the LightGCN-score fusion re-tests each "
              f"checkpoint: `{fr['command']}`", seeds="0, 1, 2 (LightGCN is re-fit per seed)",
              lists="150 validation users, all 942 test users (leave-one-out; misses count 0)", machine=d["machine"]),
        "Test metrics, mean ± s.d. over seeds:",
        table(["method (same users)", *(m.upper().replace("NDCG", "NDCG") for m in metrics)], rows),
        "Paired per-user differences in test NDCG@5 (s.e.):",
        paired])


RECRANKER_ROWS = {"LightGCN retriever (its own order)": "baseline_test/retriever", "pointwise": "test/pointwise",
                  "pairwise": "test/pairwise", "listwise": "test/listwise", "hybrid (`task.form=paper`)": "test/hybrid",
                  "item mean": "baseline_test/item_mean", "popularity": "baseline_test/popularity",
                  "random": "baseline_test/random"}


def recranker(d: dict) -> tuple[str, tuple[float, float | None], float]:
    seeds = sorted(d["seeds"], key=int)
    metrics = ["hr@3", "hr@5", "ndcg@3", "ndcg@5"]
    rows = [[name] + [pm(*mean_sd([d["seeds"][s][f"{prefix}/{m}"] for s in seeds])) for m in metrics]
            for name, prefix in RECRANKER_ROWS.items()]
    paired = [[s, pm(d["seeds"][s]["paired_test/hybrid_minus_retriever/ndcg@5"],
                     d["seeds"][s]["paired_test/hybrid_minus_retriever/ndcg@5_se"], True),
               f"{d['seeds'][s]['test/scored_users']:.0f} of {d['seeds'][s]['test/users']:.0f}",
               f"{d['seeds'][s]['wall_time_s']:.0f} s"] for s in seeds]
    text = "\n\n".join([
        "## RecRanker on ML-100K (`recranker_ml100k`)",
        facts("recranker_ml100k_corrected_split.json", command=f"`{d['command']}`; the paired s.e. from re-testing "
              f"each checkpoint: `{d['paired_command']}`", seeds=", ".join(seeds),
              lists="150 validation users, all 942 test users (LightGCN's top-10; misses count 0)",
              machine=d["machine"]),
        "Test metrics, mean ± s.d. over seeds (LightGCN is re-fit per seed):",
        table(["method (same users)", "HR@3", "HR@5", "NDCG@3", "NDCG@5"], rows),
        table(["seed", "hybrid minus LightGCN, NDCG@5 (paired s.e.)", "users the LLM scored (target in top-10)",
               "wall time"], paired)])
    hybrid = mean_sd([d["seeds"][s]["test/hybrid/ndcg@5"] for s in seeds])
    lightgcn = statistics.mean(d["seeds"][s]["baseline_test/retriever/ndcg@5"] for s in seeds)
    return text, hybrid, lightgcn


def hint_sources(name: str, d: dict) -> str:
    """Any `hint_sources_*.json`: {"command", "machine", "groups": {name: {"seeds", "per_seed", "summary"}}}."""
    def present(key: str) -> bool:
        return any(g["per_seed"].get(key) for g in d["groups"].values())

    # RecRanker runs rank with the hybrid (and its tasks); a candidate-readout rerank run has one LLM row.
    ranker = "hybrid" if present("test/hybrid/ndcg@5") else "llm"
    paired = f"paired_test/{ranker}_minus_retriever/ndcg@5"
    cols = [("best val", "best_val/ndcg@5"),
            ("hybrid" if ranker == "hybrid" else "LLM", "test/hybrid/ndcg@5" if ranker == "hybrid" else "test/ndcg@5"),
            ("pointwise", "test/pointwise/ndcg@5"), ("pairwise", "test/pairwise/ndcg@5"),
            (f"{'hybrid' if ranker == 'hybrid' else 'LLM'} minus LightGCN (paired)", paired)]
    cols = [(label, key) for label, key in cols if present(key)]
    rows = []
    for group, g in d["groups"].items():
        cells = []
        for _, key in cols:
            values = g["per_seed"].get(key)
            if not values:
                cells.append("")
                continue
            fmt = s3 if key.startswith("paired") else f3
            cells.append(seeds_text(values, fmt) + (f" (mean {fmt(statistics.mean(values))})" if len(values) > 1
                                                    else ""))
        rows.append([f"`{group}`", ", ".join(str(s) for s in g["seeds"]), *cells])
    ses = [se for g in d["groups"].values() for se in g["per_seed"].get(f"{paired}_se", [])]
    title = name.removeprefix("hint_sources_").removesuffix(".json")
    parts = [
        f"## Hint sources: `{title}`",
        facts(name, command=f"`{d['command']}`", machine=d["machine"], other_figures=d.get("values_source")),
        ("Test NDCG@5 per seed and best validation NDCG@5; the paired s.e. of \"minus LightGCN\" is "
         f"{f3(min(ses))}-{f3(max(ses))}." if ses else "Test NDCG@5 per seed and best validation NDCG@5."),
        table(["hint source", "seeds", *(c for c, _ in cols)], rows)]
    # The training mix each hint source gives (RecRanker's tasks), where the runs recorded it.
    mix = [f"train/instructions_{task}" for task in ("pointwise", "pairwise", "listwise")]
    mix_rows = [[f"`{group}`", ", ".join(str(s) for s in g["seeds"]),
                 *(seeds_text(g["per_seed"][k], lambda v: f"{v:.0f}") if g["per_seed"].get(k) else "" for k in mix)]
                for group, g in d["groups"].items() if any(g["per_seed"].get(k) for k in mix)]
    if mix_rows:
        parts += [("Training instructions per task, per seed (`train/instructions_*`; groups whose runs did not "
                   "record them are left out):"),
                  table(["hint source", "seeds", "pointwise", "pairwise", "listwise"], mix_rows)]
    return "\n\n".join(parts)


def probe_cross_fit(d: dict) -> str:
    t = d["training_instructions"]
    rows = [[label, f3(t["in_sample"][k]), f3(t["cross_fitted"][k])] for label, k in (
        ("pointwise: RMSE of the hint against the training label", "pointwise_rmse"),
        ("pairwise: the hint names the liked item", "pairwise_hint_names_liked"),
        ("listwise: rated candidates in the hint's top 5", "listwise_rated_in_hint_top5"))]
    return "\n\n".join([
        "## What a retriever hint knows of the training labels (probe)",
        facts("probe_cross_fit.json", command=f"`{d['command']}`", machine=f"{d['machine']}, "
              f"{d['torch_threads']} thread", retriever=d["retriever"]),
        table(["on training instructions", "in-sample LightGCN", "cross-fitted (5 folds)"], rows),
        (f"Held-out rows: pointwise RMSE {f3(d['held_out_rows_pointwise_rmse'])} ({d['held_out_rows']} rows). Fit "
        f"time: full retriever and lists {d['fit_s']['full_retriever_and_lists']:.0f} s, 5 fold copies "
        f"{d['fit_s']['5_fold_copies']:.0f} s.")])


def threads(d: dict) -> str:
    """OpenMP thread settings against the default environment, each in a fresh process, the default run twice."""
    rows = [[name.replace("_", " "), ", ".join(f"`{k}={v}`" for k, v in r["environment"].items()) or "(none)",
             f"{r['train_tokens_per_s']:.0f}", f"{r['train_x_default']:.2f}", f"{r['eval_tokens_per_s']:.0f}",
             f"{r['eval_x_default']:.2f}"] for name, r in d["settings"].items()]
    first = next(iter(d["settings"].values()))
    best = max((r for n, r in d["settings"].items() if not n.startswith("default")),
               key=lambda r: r["train_x_default"])
    verdict = ("beyond" if best["train_x_default"] - 1 > d["drift"]["train_tokens_per_s"] else "within")
    return "\n\n".join([
        "## OpenMP thread settings (a speed lever)",
        facts("bench_threads.json", command=f"`{d['command']}`", machine=f"{d['machine']}, "
              f"{'native bf16' if first['bf16_native'] else 'AVX2, no native bf16'}, {d['torch_threads']} threads, "
              f"trainer.precision={first['precision']}",
              steps=f"{d['train_steps']} timed training steps and {d['eval_lists']} test lists per setting"),
        table(["setting", "environment", "train tokens/s", "x default", "eval tokens/s", "x default"], rows),
        (f"The default environment ran first and last; the two differ by {d['drift']['train_tokens_per_s']:.0%} "
         f"(train) and {d['drift']['eval_tokens_per_s']:.0%} (eval), the machine's own drift. The best other "
         f"setting's training gain is {verdict} that drift; `OMP_WAIT_POLICY=PASSIVE` (threads sleep between "
         "kernels) is slower, since a step is thousands of short kernels. rankexp sets none of these. Allocators "
         "(jemalloc, tcmalloc) need system libraries and are not measured.")])


def lora_dropout(d: dict) -> str:
    """LoRA dropout 0 against the default 0.05: one seed, the same lists, on the machine the speed figures name."""
    ref, lever = d["dropout_0.05"]["seeds"][0], d["dropout_0"]["seeds"][0]
    rows = [[label, f3(r["llm_ndcg@5"]), s3(r["llm_ndcg@5"] - r["item_mean_ndcg@5"]), f3(r.get("best_val/ndcg@5")),
             f"{r['wall_time_s']:.0f} s"] for label, r in (("`model.lora.dropout=0.05` (the default then)", ref),
                                                          ("`model.lora.dropout=0`", lever))]
    return "\n\n".join([
        "## LoRA dropout 0, one list per step (seed 0, AVX2 in fp32)",
        facts("lora_dropout_candidate.json", command="`make run` and `make run ARGS=model.lora.dropout=0`, then "
              "`python experiments/paired_runs.py --ref dropout_0.05 dropout_0.05=<run> dropout_0=<run>`",
              machine="2-core AVX2 CPU (no native bf16), idle, trainer=cpu in fp32", lists="100 validation, 707 test"),
        table(["run", "test NDCG@5", "LLM minus item mean", "best validation NDCG@5", "wall time"], rows),
        (f"Dropout 0 minus dropout 0.05, paired over the 707 test lists: "
         f"{pm(lever['minus_dropout_0.05'], lever['minus_dropout_0.05_se'], signed=True)} (s.e.; 95% CI "
         f"{s3(lever['minus_dropout_0.05_ci_low'])} to {s3(lever['minus_dropout_0.05_ci_high'])}), for "
         f"{ref['wall_time_s'] - lever['wall_time_s']:.0f} s less. Validation picks "
         f"{'dropout 0' if lever['best_val/ndcg@5'] > ref['best_val/ndcg@5'] else 'dropout 0.05'} "
         f"({f3(lever['best_val/ndcg@5'])} vs {f3(ref['best_val/ndcg@5'])}); on one seed the default then stayed 0.05 "
         "(with two lists per step, 3 seeds: the section above).")])


def lora_dropout_seeds(d: dict, batch: dict) -> str:
    """No LoRA dropout (the default) against 0.05, both with two lists per step, 3 seeds. The 0.05 runs are
    batch_candidate.json's two-lists-per-step runs; a seed whose 0.05 run was repeated with its per-list scores
    kept is also paired list by list (paired_runs.py)."""
    lever = d["dropout_0"]["seeds"]
    ref = [batch["seeds"][str(seed)] for seed in range(len(lever))]

    def paired(r: dict) -> str:
        return pm(r["minus_dropout_0.05"], r["minus_dropout_0.05_se"], signed=True) if "minus_dropout_0.05" in r else ""

    rows = [[str(seed), f"{f3(b['best_val/ndcg@5'])} / {f3(a['best_val/ndcg@5'])}",
             f"{f3(b['llm_ndcg@5'])} / {f3(a['test/ndcg@5'])}",
             f"{s3(b['llm_ndcg@5'] - b['item_mean_ndcg@5'])} / {s3(a['paired_test/llm_minus_item_mean/ndcg@5'])}",
             paired(b), f"{b['wall_time_s']:.0f} / {a['wall_time_s']:.0f} s"]
            for seed, (a, b) in enumerate(zip(ref, lever))]
    val = {"0": statistics.mean(r["best_val/ndcg@5"] for r in lever),
           "0.05": statistics.mean(r["best_val/ndcg@5"] for r in ref)}
    wins = sum(b["best_val/ndcg@5"] > a["best_val/ndcg@5"] for a, b in zip(ref, lever))
    test = statistics.mean(b["llm_ndcg@5"] - a["test/ndcg@5"] for a, b in zip(ref, lever))
    saved = statistics.mean(a["wall_time_s"] - b["wall_time_s"] for a, b in zip(ref, lever))
    return "\n\n".join([
        "## LoRA dropout 0 (the default) against 0.05, two lists per step, every layer adapted",
        facts("lora_dropout_candidate_b2.json, batch_candidate.json",
              command="`python -m rankexp.run seed=S model.lora.dropout=0` (S = 0, 1, 2, at d2c8811; the default "
                      "since fa7e76f), then `python experiments/paired_runs.py --ref dropout_0.05 "
                      "dropout_0.05=<0.05 runs with per-list scores> dropout_0=<the three runs> --out "
                      "experiments/results/lora_dropout_candidate_b2.json`; the 0.05 columns are "
                      "batch_candidate.json's two-lists-per-step runs",
              machine="2-core AVX512-BF16 CPU, trainer=cpu in bf16-mixed", lists="100 validation, 707 test"),
        table(["seed", "best val NDCG@5 (0 / 0.05)", "test NDCG@5 (0 / 0.05)", "LLM minus item mean (0 / 0.05)",
               "0 minus 0.05, paired (s.e.)", "wall time (0 / 0.05)"], rows),
        (f"Mean best validation NDCG@5: {f3(val['0'])} without dropout, {f3(val['0.05'])} with 0.05 (higher without "
         f"on {wins} of {len(lever)} seeds). Validation does not tell them apart, and the run without dropout is "
         f"{saved:.0f} s shorter on average, so it is the default since fa7e76f. Test NDCG@5, 0 minus 0.05: "
         f"{s3(test)} (mean over seeds). A paired cell is empty where the 0.05 run's per-list scores were not kept. "
         "The seed-0 run without dropout shared the machine with a short test run for about a minute (its validation "
         "at step 50 took 59 s, the others ~34 s), so its wall time is ~25 s long.")])


def paired_rows(d: dict, labels: dict[str, str], ref: str) -> list[list[str]]:
    """One table row per group and seed of a paired_runs.py JSON: best val, test, LLM minus item mean, the paired
    difference to `ref`, training steps and wall time."""
    rows = []
    for name, label in labels.items():
        for seed, r in enumerate(d[name]["seeds"]):
            paired = pm(r[f"minus_{ref}"], r[f"minus_{ref}_se"], signed=True) if f"minus_{ref}" in r else ""
            rows.append([label, str(seed), f3(r["best_val/ndcg@5"]), f3(r["llm_ndcg@5"]),
                         s3(r["llm_ndcg@5"] - r["item_mean_ndcg@5"]), paired,
                         f"{r['speed/train_s']:.0f} s" if "speed/train_s" in r else "", f"{r['wall_time_s']:.0f} s"])
    return rows


def validation_choice(lever: list[dict], ref: list[dict]) -> tuple[float, float, int, bool]:
    """(mean best val of the lever, of the reference, seeds the lever is higher on, whether validation picks it:
    higher on the mean and on most seeds)."""
    mine, theirs = (statistics.mean(r["best_val/ndcg@5"] for r in runs) for runs in (lever, ref))
    wins = sum(a["best_val/ndcg@5"] > b["best_val/ndcg@5"] for a, b in zip(lever, ref))
    return mine, theirs, wins, mine > theirs and wins > len(ref) / 2


def lora_top_layers(d: dict) -> str:
    """LoRA on the top K decoder layers only against every layer (the default before), the same seeds and lists,
    paired per list (experiments/paired_runs.py). Validation picks; the test columns are read after the choice."""
    rows = paired_rows(d, {"all_layers": "all 30 layers", "top_15": "top 15 layers (the default)",
                           "top_8": "top 8 layers"}, "all_layers")
    top, ref = d["top_15"]["seeds"], d["all_layers"]["seeds"]
    val = {name: statistics.mean(r["best_val/ndcg@5"] for r in group["seeds"]) for name, group in d.items()}
    *_, wins, picks = validation_choice(top, ref)
    saved = statistics.mean(b["wall_time_s"] - a["wall_time_s"] for a, b in zip(top, ref))
    verdict = ("Validation picks the top 15 layers (higher on the mean and on most seeds), so they are the default."
               if picks else "Validation does not pick the top 15 layers.")
    return "\n\n".join([
        "## LoRA on the top layers only (`model.lora.top_layers`)",
        facts("lora_top_layers_candidate.json",
              command="`python -m rankexp.run seed=S model.lora.top_layers=K` (K = 15 for S = 0, 1, 2; K = 8 for S = 0; "
                      "at 0ce780a, before top 15 became the default at 26d52a5), then `python experiments/paired_runs.py --ref "
                      "all_layers all_layers=<the default's runs with every layer> top_15=<3 runs> top_8=<1 run> --out "
                      "experiments/results/lora_top_layers_candidate.json`; the every-layer runs are the headline's "
                      "(seed 0 repeated at 15214cb with its phase times, every number as before)",
              machine="2-core AVX512-BF16 CPU, idle, trainer=cpu in bf16-mixed", lists="100 validation, 707 test"),
        table(["LoRA on", "seed", "best val NDCG@5", "test NDCG@5", "LLM minus item mean",
               "minus all layers, paired (s.e.)", "training steps", "wall time"], rows),
        (f"Mean best validation NDCG@5: top 15 layers {f3(val['top_15'])}, all layers {f3(val['all_layers'])} "
         f"(top 15 higher on {wins} of {len(top)} seeds); top 8 layers {f3(val['top_8'])} on seed 0, "
         f"{'below' if val['top_8'] < top[0]['best_val/ndcg@5'] else 'not below'} top 15's "
         f"{f3(top[0]['best_val/ndcg@5'])} there, so it ran on no other seed. {verdict} A run takes {saved:.0f} s less "
         "on average. Test, top 15 minus all layers, paired: "
         f"{s3(d['top_15']['minus_all_layers_mean'])} ± {f3(d['top_15']['minus_all_layers_sd'])} (mean ± s.d. over "
         f"seeds). A training token costs 2N + 2N x 15 / 30 = 3N FLOPs instead of 4N (1.33x fewer); on seed 0 the "
         f"training steps ran {top[0]['speed/train_tokens_per_s'] / ref[0]['speed/train_tokens_per_s']:.2f}x the "
         "tokens per second: the lower layers also keep no activations for a backward.")])


def batch_three(d: dict) -> str:
    """Three lists per step against the default's two, with LoRA on the top 15 layers: the training time the top
    layers saved, spent on a larger batch (the same seeds and lists, paired per list)."""
    rows = paired_rows(d, {"batch_2": "2 (the default)", "batch_3": "3"}, "batch_2")
    two, three = d["batch_2"]["seeds"], d["batch_3"]["seeds"]
    mean_3, mean_2, wins, picks = validation_choice(three, two)
    val = {"batch_3": mean_3, "batch_2": mean_2}
    verdict = ("Validation picks three lists per step (higher on the mean and on most seeds), so it is the default."
               if picks else "Validation does not pick three lists per step, so the default stays at two.")
    return "\n\n".join([
        "## Three lists per step with the time the top layers saved",
        facts("batch3_candidate.json",
              command="`python -m rankexp.run seed=S train.batch_size=3` (S = 0, 1, 2, at 23c299b), then `python "
                      "experiments/paired_runs.py --ref batch_2 batch_2=<the default's three runs> batch_3=<the three "
                      "runs> --out experiments/results/batch3_candidate.json`",
              machine="2-core AVX512-BF16 CPU, idle, trainer=cpu in bf16-mixed", lists="100 validation, 707 test"),
        table(["lists per step", "seed", "best val NDCG@5", "test NDCG@5", "LLM minus item mean",
               "3 minus 2, paired (s.e.)", "training steps", "wall time"], rows),
        (f"Mean best validation NDCG@5: {val['batch_3']:.4f} with three lists per step, {val['batch_2']:.4f} with two "
         f"(three higher on {wins} of {len(two)} seeds). {verdict} Test, three minus two, paired: "
         f"{pm(d['batch_3']['minus_batch_2_mean'], d['batch_3']['minus_batch_2_sd'], signed=True)} (mean ± s.d. "
         f"over seeds); training steps {statistics.mean(r['speed/train_s'] for r in three):.0f} s against "
         f"{statistics.mean(r['speed/train_s'] for r in two):.0f} s. Seed 0's run with three lists shared the machine "
         "with short single-thread test runs for a few minutes, so its times are long; its numbers are not affected.")])


def time_split(d: dict) -> str:
    """Where the default recipe's training steps and evaluation spend their time (bench_speed's profiler split)."""
    def parts(split: dict) -> str:
        return ", ".join(f"{label} {split[key]:.0%}" for key, label in (
            ("matmul", "matmul kernels"), ("attention", "the sdpa attention kernel"),
            ("copies_and_casts", "copies and casts"), ("other", "everything else")) if split[key])

    train, evaluation = d["ours"]["train_time_split"], d["ours"]["eval_time_split"]
    return (f"Where the time goes (torch.profiler, self CPU time per op): training steps: {parts(train)} (training "
            f"runs eager attention, whose two bmm count as matmul); evaluation: {parts(evaluation)}. In evaluation the "
            f"matmul kernels themselves run at {d['eval_matmul_kernel_gflops']:.0f} GFLOP/s against the limit of "
            f"{d['limit_gflops']:.0f}; were every other op free, evaluation would reach "
            f"{d['eval_share_if_only_matmul']:.0%} of the matmul rate. So the gap to the limit is the attention kernel, "
            "the casts and the elementwise work, not the matmuls.")


def speed(d: dict, name: str = "bench_speed.json", heading: str = "Speed against the machine's limit (the default "
          "recipe)", note: str = "") -> str:
    """Our training and evaluation rates against the machine's matmul rate and a plain transformers + peft loop."""
    limit, n = d["limit_gflops"], d["decoder_matmul_params"]
    rows = [["ours: training step (Lightning, the default recipe)", f"{d['ours']['train']['tokens_per_s']:.0f}",
             f"{d['flops_per_token']['train'] / 1e6:.0f}", f"{d['train_share_of_matmul']:.0%}", ""],
            ["ours: evaluation (test lists, batch 8)", f"{d['ours']['eval']['tokens_per_s']:.0f}",
             f"{d['flops_per_token']['eval'] / 1e6:.0f}", f"{d['eval_share_of_matmul']:.0%}", ""]]
    for key, label in (("plain_eager", "plain transformers + peft loop, eager"),
                       ("plain_compiled", "plain loop, `torch.compile` on the decoder")):
        if "tokens_per_s" in d.get(key, {}):
            if d[key].get("graphs_compiled_while_timed"):
                graphs = d[key]["graphs_compiled_while_timed"]
                label += (f" (still compiling in its timed steps: {graphs} graph{'s' if graphs != 1 else ''}; "
                          "not like for like, and the README does not quote it)")
            rows.append([label, f"{d[key]['tokens_per_s']:.0f}", f"{d['flops_per_token']['train'] / 1e6:.0f}",
                         f"{d[key]['share_of_matmul']:.0%}", f"{d[f'ours_over_{key}']:.2f}"])
    code_levers = {"eval_lora_unfolded": "LoRA left unfolded at evaluation (as before `FoldedLora`)",
                   "eval_weights_fp32": "folded weights left in fp32 while scoring (as before `fold(cast_to=)`)",
                   "lora_dropout_torch": "`model.lora.dropout=0.05` drawn by peft's `nn.Dropout` (as before "
                                         "`FastDropout`)",
                   "train_attn_sdpa": "sdpa attention in training steps too (as before `AttentionByPhase`)"}
    lever_rows = [[code_levers.get(name) or (f"`{' '.join(v['overrides'])}`" if v["overrides"] else name),
                   f"{v['train']['tokens_per_s']:.0f}", f"{v['train_speedup']:.2f}",
                   f"{v['eval']['tokens_per_s']:.0f}", f"{v['eval_speedup']:.2f}"] for name, v in d["levers"].items()]
    compile_note = ""
    if "warmup_s" in d.get("plain_compiled", {}):
        compile_note = (f" The compiled loop's {d['plain_compiled']['warmup_s']:.0f} s of warm-up steps (eager: "
                        f"{d['plain_eager']['warmup_s']:.0f} s) include compiling the decoder"
                        + (", every batch padded to the longest one's length so that it compiles once"
                           if "padded_tokens_per_s" in d["plain_compiled"] else "")
                        + ", with inductor's on-disk cache as it was on this machine."
                        + (" \"Ours over it\" compares tokens processed per second, padding included."
                           if "padded_tokens_per_s" in d["plain_compiled"] else ""))
    rates = "; ".join(f"{precision} " + ", ".join(f"{shape} {rate:.0f}" for shape, rate in r.items())
                      for precision, r in d["matmul_gflops"].items())
    plain_note = ""
    if "lora_dropout_torch" in d["levers"]:
        plain_note = (" The plain loop runs the model as transformers and peft build it: sdpa attention, and peft's "
                      "`nn.Dropout` where the LoRA dropout is not 0.")
    return "\n\n".join([
        f"## {heading}",
        *([note] if note else []),
        *([d["note"]] if d.get("note") else []),
        *([time_split(d)] if "eval_time_split" in d["ours"] else []),
        facts(name, command="`python experiments/bench_speed.py`", machine=f"{d['machine']}, "
              f"{'native bf16 (AVX512-BF16/AMX)' if d['bf16_native'] else 'AVX2, no native bf16'}, {d['torch_threads']} threads, trainer.precision={d['precision']}",
              lora=f"r {d['lora']['r']}, dropout {d['lora']['dropout']}, {len(d['lora']['target_modules'])} modules"),
        (f"Matmul rate at the model's shapes, GFLOP/s (best of 6 stretches): {rates}. The limit below is "
         f"{limit:.0f} GFLOP/s ({d['limit_shape']}). N = {n / 1e6:.0f} M weights multiply every token (the decoder's "
         "projections); a LoRA training token costs 4N FLOPs (forward, and backward to the inputs only) with every "
         "layer adapted, 2N + 2N K / layers with LoRA on the top K layers only (`model.lora.top_layers`: the backward "
         f"stops below them), an evaluation token 2N.{compile_note}{plain_note}"),
        table(["loop", "tokens/s", "MFLOP per token", "share of the matmul rate", "ours over it"], rows),
        "Levers, each alone against the default on the same machine and run:",
        table(["override", "train tokens/s", "x default", "eval tokens/s", "x default"], lever_rows),
        ("LoRA dropout, the training steps' attention kernel and which layers LoRA adapts change nothing at "
         "evaluation (the adapter is folded into the weights), so their rows' eval column shows how much the eval "
         "rate moves between two measurements on this machine.")])


def costs(train: dict, inference: dict, trained: dict, hybrid: dict, sampling: dict) -> str:
    train_rows = [[label, f"{train[k]:.2f}", f"{train[k] / train['sft_s_per_step']:.2f}"] for label, k in (
        ("SFT", "sft_s_per_step"), ("SFT + Soft Lambda", "sft_sll_s_per_step"), ("SFT + PSL", "sft_psl_s_per_step"),
        ("all three", "full_s_per_step"), ("SFT through Lightning", "lightning_sft_s_per_step"))]
    inf_rows = [[label, f"{inference[k]:.2f}", f"{trained[k]:.2f}"] for label, k in (
        ("single-pass verbalizer", "verbalizer_s_per_list"), ("one plain forward", "plain_forward_s_per_list"),
        ("constrained decoding", "constrained_s_per_list"), ("free `generate()` + parse", "generate_s_per_list"))]
    inf_rows.append(["`generate()`: missing labels per list", f"{inference['generate/missing_per_list']:.1f}",
                     f"{trained['generate/missing_per_list']:.1f}"])
    variants = [("one listwise prompt", "listwise_one_pass"), ("56 prompts, every prompt in full", "hybrid_unshared"),
                ("56, shared history prefix", "hybrid_shared"), ("21 (the paper's count), shared prefix: the default",
                                                                 "hybrid21_shared"),
                ("56, `task.candidates_in_prefix=true`", "hybrid_block_shared"),
                ("21, `task.candidates_in_prefix=true`", "hybrid21_block_shared")]
    hyb_rows = [[label, f"{hybrid['variants'][k]['median_s']:.2f}", f"{hybrid['variants'][k]['x_listwise_pass']:.2f}",
                 f"{hybrid['variants'][k]['tokens']:.0f}"] for label, k in variants]
    return "\n\n".join([
        "## Costs",
        "### A training step (ALRO's slot verbalizer)",
        facts("bench_train.json", command="`python experiments/bench_train.py`",
              machine=f"{train['machine']}, {train['torch_threads']} threads, fp32", steps=str(train["steps"])),
        table(["loss", "s per step", "x SFT"], train_rows),
        "### Ranking one list",
        facts("bench_inference.json, bench_inference_trained.json", command="`python experiments/bench_inference.py` "
              "(`--adapter <run>/adapter` for the trained column)",
              machine=f"{inference['machine']}, {inference['torch_threads']} threads, {inference['precision']}",
              lists=f"{inference['lists']} lists of m = {inference['m']}, "
                    f"{inference['mean_prompt_tokens']:.0f} prompt tokens on average"),
        table(["method", "s per list, untrained", "s per list, trained SFT + SLL adapter"], inf_rows),
        "### RecRanker's prompts per user",
        facts("bench_hybrid.json", command="`python experiments/bench_hybrid.py`",
              machine=f"{hybrid['cpu_count']} CPUs, {hybrid['torch_threads']} threads, torch {hybrid['torch']}",
              users=f"{hybrid['users_timed']} ML-100K users (median)", model=hybrid["model"]),
        table(["prompts per user", "s per user", "x one listwise pass", "tokens"], hyb_rows),
        "### Adaptive user sampling",
        facts("bench_sampling.json", command="`python experiments/bench_sampling.py`",
              machine=f"{sampling['machine']['cpus']} CPUs"),
        (f"{sampling['budget']} instructions from an ML-1M-sized population ({sampling['population']['users']} users, "
        f"{sampling['population']['ratings']} ratings): adaptive sampling {sampling['adaptive_sample_s']['min']:.2f} s "
        f"(best of {len(sampling['adaptive_sample_s']['all'])}), {sampling['distinct_users']} distinct users; "
        f"building the instances {sampling['instances']['build_s']:.1f} s; deterministic: "
        f"{str(sampling['deterministic']).lower()}.")])


def probe_calibration(d: dict) -> str:
    labels = {"zero_shot": "untrained"}
    rows = [[labels.get(k, f"`{Path(k).name}`"), f3(v["val_raw"]), f3(v["val_cal"]), f3(v["test_raw"]),
             f3(v["test_cal"])] for k, v in d.items()]
    return "\n\n".join([
        "## ALRO's slot prior, divided out (probe)",
        facts("probe_calibration.json", command="`python experiments/probe_calibration.py <run dirs>`",
              lists="the explicit lists of `alro_ml100k` (old split)"),
        ("First-slot scores divided by their validation mean, NDCG@5 (run dirs: seed 0 of `alro_ml100k` = full, "
        "`alro_ml100k_sft_sll` = sll):"),
        table(["model", "val raw", "val calibrated", "test raw", "test calibrated"], rows)])


def mutation(d: dict) -> str:
    def row(name: str, v: dict) -> list[str]:
        return [name, str(v["mutants"]), str(v["equivalent"]), str(v["killed"]), str(v["survived"]),
                f"{v['killed_share']:.1%}"]

    rows = [row(f"`{path}`", v) for path, v in d["modules"].items()] + [row("all", d)]
    return "\n\n".join([
        "## Mutation testing of the numerical core",
        facts("mutation.json", command="`make mutate`", machine=d["machine"],
              wall_time=f"{d['wall_time_s']:.0f} s"),
        ("One operator or constant changed at a time; killed = a fast test failed. Equivalent = a change that "
         "cannot alter any result (e.g. `dim=1` for `dim=-1` on a 2-D tensor), each listed with its reason in "
         "the JSON and in `experiments/mutate.py`; the killed share leaves them out. Survivors are listed in the "
         "JSON."),
        table(["module", "mutants", "equivalent", "killed", "survived", "killed share"], rows)])


# ---------------------------------------------------------------- assembly

KNOWN = {"make_commands.json", "candidate_ml100k.json", "alro_ml100k_slot.json", "ablation_candidate.json",
         "hint_value_rank_candidate.json", "order_averaging.json", "probe_order_averaging.json",
         "weight_ema_candidate.json", "probe_hint_rounding.json", "probe_rating_ceiling.json",
         "bench_retrievers.json", "rerank_candidate.json", "recranker_ml100k_corrected_split.json",
         "probe_cross_fit.json", "bench_speed.json", "bench_speed_avx2.json", "bench_threads.json", "lora_dropout_candidate.json", "lora_dropout_candidate_b2.json", "lora_top_layers_candidate.json",
         "batch3_candidate.json", "batch_candidate.json", "bench_train.json", "bench_inference.json", "bench_inference_trained.json",
         "bench_hybrid.json", "bench_sampling.json", "probe_calibration.json", "mutation.json"}


def check_known() -> list[str]:
    """Every JSON in experiments/results is rendered; an unknown one stops the script."""
    names = sorted(p.name for p in RESULTS.glob("*.json"))
    unknown = [n for n in names if n not in KNOWN and not n.startswith("hint_sources_")]
    if unknown:
        raise SystemExit(f"error: experiments/results/{unknown[0]} has no table in experiments/results_doc.py "
                         f"(unknown: {', '.join(unknown)}); add a function for it")
    missing = sorted(KNOWN - set(names))
    if missing:
        raise SystemExit(f"error: experiments/results/{missing[0]} is gone; drop its table from results_doc.py")
    return [n for n in names if n.startswith("hint_sources_")]


def render() -> tuple[str, dict[str, str]]:
    """(docs/results.md, {README block name: its text})."""
    hint_files = check_known()
    cand = load("candidate_ml100k.json")
    slot = load("alro_ml100k_slot.json")
    rerank = load("rerank_candidate.json")
    candidate_text, candidate_gap = candidate_main(cand)
    recranker_text, hybrid, lightgcn = recranker(load("recranker_ml100k_corrected_split.json"))
    sections = [
        make_commands(load("make_commands.json"), load("bench_speed.json")),
        candidate_text,
        lever_history(cand, slot, load("ablation_candidate.json"), load("hint_value_rank_candidate.json"),
                      load("order_averaging.json"), load("weight_ema_candidate.json"), load("batch_candidate.json"),
                      load("lora_dropout_candidate_b2.json"), load("lora_top_layers_candidate.json"),
                      load("batch3_candidate.json")),
        batch_size(load("batch_candidate.json")),
        lora_top_layers(load("lora_top_layers_candidate.json")),
        batch_three(load("batch3_candidate.json")),
        lora_dropout_seeds(load("lora_dropout_candidate_b2.json"), load("batch_candidate.json")),
        ablation_candidate(load("ablation_candidate.json")),
        alro_slot(slot),
        hint_format_seed0(cand),
        hint_value_rank(load("hint_value_rank_candidate.json")),
        order_averaging(load("order_averaging.json"), load("probe_order_averaging.json")),
        weight_ema(load("weight_ema_candidate.json")),
        probe_hint_rounding(load("probe_hint_rounding.json")),
        probe_rating_ceiling(load("probe_rating_ceiling.json")),
        probe_calibration(load("probe_calibration.json")),
        bench_retrievers(load("bench_retrievers.json")),
        rerank_candidate(rerank),
        recranker_text,
        *(hint_sources(name, load(name)) for name in hint_files),
        probe_cross_fit(load("probe_cross_fit.json")),
        speed(load("bench_speed.json")),
        speed(load("bench_speed_avx2.json"), "bench_speed_avx2.json", "The same benchmark on a CPU without native bf16",
              "Measured on 2026-12-07 before eager attention and `FastDropout` became the default (commit 30674cc), "
              "so its default row ran peft's `nn.Dropout` (sdpa attention is what an fp32 run keeps)."),
        threads(load("bench_threads.json")),
        lora_dropout(load("lora_dropout_candidate.json")),
        costs(load("bench_train.json"), load("bench_inference.json"), load("bench_inference_trained.json"),
              load("bench_hybrid.json"), load("bench_sampling.json")),
        mutation(load("mutation.json")),
    ]
    doc = "\n\n".join(["# Results", ("Generated by `python experiments/results_doc.py` from `experiments/results/*.json`; "
                       "do not edit by hand (`tests/report/test_results_doc.py` fails when this file differs). "
                       "Mean ± s.d. is over seeds unless a cell says s.e. (a paired standard error over lists or "
                       "users)."), *sections]) + "\n"
    blocks = {"commands": readme_commands(load("make_commands.json"), load("bench_speed.json")),
              "results": readme_table(cand, candidate_gap, slot, rerank, hybrid, lightgcn)}
    return doc, blocks


def readme_commands(d: dict, speed_figures: dict) -> str:
    run = "; ".join(f"{span(m['wall_s'], 's')} on a {m['machine']}, {m['date']}"
                    + (f" ({m['caveat']})" if m.get("caveat") else "")
                    + (f": {run_phases(m)}" if m.get("phases") else f" ({span(m['s_per_step'], 's')} per step)")
                    for m in d["make_run"])
    compiled = speed_figures.get("ours_over_plain_compiled") if speed_figures.get("compiled_comparable", True) else None
    run += (f". Training runs at {speed_figures['train_share_of_matmul']:.0%} and evaluation at "
            f"{speed_figures['eval_share_of_matmul']:.0%} of the matmul rate at the model's shapes (2 cores, "
            f"{'bf16' if speed_figures['bf16_native'] else 'AVX2, fp32'}); a training step is "
            f"{speed_figures['ours_over_plain_eager']:.2f}x a plain transformers + peft loop"
            + (f", {compiled:.2f}x it compiled" if compiled is not None else "")
            + " ([details](docs/results.md#the-two-commands), [speed](docs/results.md#speed-against-the-machines-limit-the-default-recipe))")
    test = "; ".join(f"{t['wall_s']} s on a {t['machine']}" + (f", {t['date']}" if t["date"] else "")
                     + f" ({t['passed']} passed)" for t in d["make_test"])
    return table(["command", "what it does", "measured"], [
        ["`make run`", (f"creates `.venv` when missing (about {d['first_install_s_approx'] // 60} min), then trains, "
         "selects on validation and tests the default experiment"), run],
        ["`make test`", "the test suite CI runs: unit tests and the slow end-to-end runs", test]])


def readme_table(cand: dict, gap: float, slot: dict, rerank: dict, hybrid, lightgcn: float) -> str:
    llm = cand["test"]["LLM alone (candidate readout)"]["ndcg@5"]
    item_mean = cand["test"]["item mean"]["ndcg@5"][0]
    cols = slot["columns"]
    alro = slot["rows"]["+experiment=alro_ml100k"]
    rr = mean_sd(rerank["rows"]["LLM (candidate readout)"]["ndcg@5"])
    rr_lgcn = statistics.mean(rerank["rows"]["LightGCN (its own order)"]["ndcg@5"])
    rows = [
        ["`alro_ml100k_candidate` (ours, the default)", f"explicit lists, {cand['lists']['test']} test lists",
         pm(*llm), f"item mean {f3(item_mean)}", s3(gap)],
        ["`alro_ml100k` (ALRO's slot verbalizer)", f"explicit lists, first {slot['lists']['test']} (old split)",
         pm(*alro[cols.index("test/ndcg@5")]), f"item mean {f3(alro[cols.index('baseline_test/item_mean/ndcg@5')][0])}",
         s3(alro[cols.index("test/ndcg@5")][0] - alro[cols.index("baseline_test/item_mean/ndcg@5")][0])],
        ["`rerank_ml100k_candidate` (ours)", "LightGCN's top-10, 942 test users", pm(*rr), f"LightGCN {f3(rr_lgcn)}",
         s3(rr[0] - rr_lgcn)],
        ["`recranker_ml100k` (RecRanker's hybrid)", "LightGCN's top-10, 942 test users", pm(*hybrid),
         f"LightGCN {f3(lightgcn)}", s3(hybrid[0] - lightgcn)],
    ]
    return "\n".join([
        table(["experiment", "lists (ML-100K, SmolLM2-135M, CPU)", "LLM test NDCG@5, 3 seeds",
               "best non-LLM ranker, same lists", "LLM minus it"], rows),
        "", ("Generated from `experiments/results/` by `python experiments/results_doc.py`; commands, seeds, "
        "machines and every other table: [docs/results.md](docs/results.md).")])


def with_readme_blocks(readme: str, blocks: dict[str, str]) -> str:
    for name, block in blocks.items():
        begin, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
        if readme.count(begin) != 1 or readme.count(end) != 1:
            raise SystemExit(f"error: README.md needs one {begin} line and one {end} line")
        head, rest = readme.split(begin)
        _, tail = rest.split(end)
        readme = f"{head}{begin}\n{block}\n{end}{tail}"
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff when a file differs")
    args = parser.parse_args(argv)
    doc, blocks = render()
    wanted = {DOC: doc, README: with_readme_blocks(README.read_text(), blocks)}
    stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
    if args.check:
        for path in stale:
            old = path.read_text().splitlines(keepends=True) if path.is_file() else []
            name = str(path.relative_to(REPO))
            sys.stdout.writelines(difflib.unified_diff(old, wanted[path].splitlines(keepends=True),
                                                       f"{name} (committed)", f"{name} (generated)"))
        if stale:
            print(f"\n{', '.join(str(p.relative_to(REPO)) for p in stale)} differ from experiments/results/*.json: "
                  "run `python experiments/results_doc.py`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
