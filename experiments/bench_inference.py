"""Inference throughput of ALRO's three paths on the same prompts and model (docs/alro.md "Inference").

(a) single-pass verbalizer (ListwiseRanker.score), (b) constrained greedy decode with KV cache,
(c) free generate() + parse; and one plain forward (full [B, T, vocab] logits) for reference.
Targets (issue): (a) >= 10x faster than (c), and within 1.1x of one plain forward.

    python experiments/bench_inference.py [--lists 16]   -> experiments/results/bench_inference.json
    python experiments/bench_inference.py --adapter <run dir>/adapter   -> bench_inference_trained.json

An untrained model stops generating after about one label, which makes (c) look cheap; `--adapter`
loads a trained run's LoRA so (c) writes whole answers, as it would in use.
"""

from __future__ import annotations

import argparse

import torch
from _bench_common import save, setup, timed

from rankexp.losses import build_losses
from rankexp.models.decoding import ParseCounts, constrained_greedy, generate_and_parse
from rankexp.models.ranker import ListwiseRanker
from rankexp.prompts.listwise import collate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lists", type=int, default=16)
    parser.add_argument("--adapter", default=None, help="a trained run's adapter dir (<run dir>/adapter)")
    args = parser.parse_args()
    _cfg, _data, lists, model, tokenizer, encoder = setup()
    if args.adapter:
        from rankexp.models.adapters import load_adapter

        model = load_adapter(model, args.adapter)
    model.eval()
    ranker = ListwiseRanker(model, encoder.label_ids, build_losses(["sft"]))
    examples = lists.test[: args.lists]
    encoded = [encoder.encode(e, with_target=False) for e in examples]
    pad = tokenizer.pad_token_id
    m = len(examples[0].candidates)
    results: dict[str, float | str | None] = {"adapter": args.adapter, "lists": len(examples), "m": m,
                                              "mean_prompt_tokens": sum(len(e.prompt_ids) for e in encoded) / len(encoded)}
    from rankexp.models.loading import cpu_bf16_is_fast

    # bf16 only where the CPU has it natively (emulated bf16 is ~4x slower than fp32).
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16_is_fast())
    results["precision"] = "bf16" if cpu_bf16_is_fast() else "fp32"
    with torch.no_grad(), autocast:
        def verbalizer():
            for e in encoded:
                ranker.score(collate([e], pad, False))

        def plain_forward():
            for e in encoded:
                batch = collate([e], pad, False)
                model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()

        def constrained():
            for e in encoded:
                constrained_greedy(model, e.prompt_ids, encoder.label_ids[:m], encoder.newline_id)

        counts = ParseCounts()

        def generate():
            for e in encoded:
                generate_and_parse(model, tokenizer, e.prompt_ids, encoder.labels[:m], counts)

        for name, fn in (("verbalizer", verbalizer), ("plain_forward", plain_forward),
                         ("constrained", constrained), ("generate", generate)):
            results[f"{name}_s_per_list"] = timed(fn, repeats=1) / len(examples)
    results["generate_vs_verbalizer"] = results["generate_s_per_list"] / results["verbalizer_s_per_list"]
    results["verbalizer_vs_plain_forward"] = results["verbalizer_s_per_list"] / results["plain_forward_s_per_list"]
    results.update(counts.as_metrics("generate"))
    save("bench_inference_trained" if args.adapter else "bench_inference", results)


if __name__ == "__main__":
    main()
