"""OpenMP thread settings as a speed lever: the default recipe's train and eval tokens/s under each setting.

    python experiments/bench_threads.py [--train-steps 12] [--eval-lists 64] [--settings default,wait_passive,...]
        -> experiments/results/bench_threads.json

Each setting runs `experiments/bench_speed.py --no-plain --levers ""` (our training step and our evaluation,
nothing else) in a process of its own, because the OpenMP runtime reads its environment once, at start. The
default environment runs first and again last: the difference between those two is the machine's own drift,
the yardstick for every other row. The Intel CPU-training guides' allocator settings (jemalloc, tcmalloc via
LD_PRELOAD) need system libraries this project does not install, so they are not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _bench_common import save

HERE = Path(__file__).resolve().parent
SETTINGS = {
    "default": {},
    # sleep instead of spinning when a parallel region ends (GNU OpenMP spins for a while by default)
    "wait_passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    # spin without a limit: threads never sleep between the many small kernels of a step
    "wait_active": {"OMP_WAIT_POLICY": "ACTIVE"},
    # pin one thread per core, so the kernels' caches stay warm
    "bind_close": {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"},
}


def measure(name: str, environment: dict[str, str], args: argparse.Namespace) -> dict:
    """Our train and eval rates under `environment` (bench_speed's "ours"), from a fresh process."""
    out = f"_threads_{name}"
    command = [sys.executable, str(HERE / "bench_speed.py"), "--no-plain", "--levers", "", "--out", out,
               "--train-steps", str(args.train_steps), "--eval-lists", str(args.eval_lists)]
    done = subprocess.run(command, env={**os.environ, **environment}, capture_output=True, text=True, check=False)
    path = HERE / "results" / f"{out}.json"
    if done.returncode != 0 or not path.is_file():
        raise SystemExit(f"error: bench_speed.py under {environment or 'the default environment'} failed "
                         f"(exit {done.returncode}):\n{done.stderr[-3000:]}")
    figures = json.loads(path.read_text())
    path.unlink()
    return {"environment": environment, "train_tokens_per_s": figures["ours"]["train"]["tokens_per_s"],
            "eval_tokens_per_s": figures["ours"]["eval"]["tokens_per_s"],
            "train_share_of_matmul": figures["train_share_of_matmul"],
            "eval_share_of_matmul": figures["eval_share_of_matmul"], "precision": figures["precision"],
            "bf16_native": figures["bf16_native"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=12, help="timed training steps per setting")
    parser.add_argument("--eval-lists", type=int, default=64, help="test lists scored per setting")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated subset of {','.join(SETTINGS)}")
    args = parser.parse_args()
    names = [n for n in args.settings.split(",") if n]
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"--settings: unknown {unknown}; known: {','.join(SETTINGS)}")
    if any(key in os.environ for setting in SETTINGS.values() for key in setting):
        parser.error("unset OMP_WAIT_POLICY, OMP_PROC_BIND and OMP_PLACES first: the default row must be the default")
    rows = {"default": measure("default", {}, args)}
    for name in [n for n in names if n != "default"]:
        rows[name] = measure(name, SETTINGS[name], args)
    rows["default_again"] = measure("default_again", {}, args)
    base = {key: (rows["default"][key] + rows["default_again"][key]) / 2
            for key in ("train_tokens_per_s", "eval_tokens_per_s")}
    for row in rows.values():
        row["train_x_default"] = round(row["train_tokens_per_s"] / base["train_tokens_per_s"], 3)
        row["eval_x_default"] = round(row["eval_tokens_per_s"] / base["eval_tokens_per_s"], 3)
    save("bench_threads", {"command": "python experiments/bench_threads.py", "train_steps": args.train_steps,
                           "eval_lists": args.eval_lists, "settings": rows,
                           "drift": {key: round(abs(rows["default"][key] - rows["default_again"][key]) / base[key], 3)
                                     for key in base}})


if __name__ == "__main__":
    main()
