"""Time of the Pythia ladder command of Lab 2 on this machine, without downloading Pythia.

The command itself runs (`emergent sweep --models pythia-14m ... pythia-410m`), against a
local Hugging Face hub cache that holds, under the Pythia hub ids, randomly initialised
GPT-NeoX models of Pythia's exact shapes (their parameter counts are checked against
Biderman et al. 2023, Table 1) with SmolLM2's byte-level BPE tokenizer standing in for
Pythia's. So the compute per token is Pythia's; two things differ: a random model never
writes the newline that ends an answer, so every answer runs to the task's token budget
(an upper bound on generation), and the prompts are tokenized by a similar BPE, not
Pythia's own. Every cell is computed (an empty cell cache); the script prints the wall
time and the CPU time (user + system, summed over torch's threads: on a busy shared machine
a steadier figure than the wall time) of the whole command, or with --per-model of one
command per model.

    python benchmarks/bench_ladder.py [--models pythia-14m pythia-31m] [--n 64] [--per-model]
                                      [--device cpu] [--dtype float32]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Pythia's shapes (width, layers, heads; GPT-NeoX, 4x MLP, untied embeddings, vocabulary 50304)
SHAPES = {"pythia-14m": (128, 6, 4), "pythia-31m": (256, 6, 8), "pythia-70m": (512, 6, 8),
          "pythia-160m": (768, 12, 12), "pythia-410m": (1024, 24, 16)}
TASKS = ["addition-1d", "addition-2d", "addition-3d", "unscramble-cycle", "unscramble-anagram",
         "unscramble-reverse"]
SHOTS = ["0", "4"]


def build_cache(root: Path, names: list[str]) -> None:
    """Random Pythia-shaped models in `root`, in the hub's layout, at revision main."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from emergent_lib.models import card_for, load

    tokenizer = load("smollm2-135m").tokenizer
    for name in names:
        width, layers, heads = SHAPES[name]
        torch.manual_seed(0)
        config = GPTNeoXConfig(vocab_size=50304, hidden_size=width, num_hidden_layers=layers,
                               num_attention_heads=heads, intermediate_size=4 * width,
                               max_position_embeddings=2048, tie_word_embeddings=False,
                               bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
        model = GPTNeoXForCausalLM(config)
        card = card_for(name)
        n = sum(p.numel() for p in model.parameters())
        if card.params_source.startswith("Biderman et al. 2023, Table 1") and n != card.params:
            raise SystemExit(f"{name}: {n} parameters, Table 1 says {card.params:.0f}: the shape is wrong")
        repo = root / f"models--{card.hub_id.replace('/', '--')}"
        commit = hashlib.sha1(name.encode()).hexdigest()
        snapshot = repo / "snapshots" / commit
        model.to(torch.bfloat16).save_pretrained(snapshot)  # half the disk; loaded as float32
        tokenizer.save_pretrained(snapshot)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
        print(f"  {name}: {n:,} parameters", flush=True)


def timed_sweep(models: list[str], args, env: dict, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the child) of one `emergent sweep`."""
    command = [sys.executable, "-m", "emergent_lib.cli", "sweep", "--models", *models, "--tasks", *TASKS,
               "--shots", *SHOTS, "--n", str(args.n), "--device", args.device, "--dtype", args.dtype,
               "--out", str(out), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--per-model", action="store_true",
                        help="one command per model, each timed (their sum is the whole command plus process starts)")
    args = parser.parse_args()
    cells = len(TASKS) * len(SHOTS)
    print(f"{len(TASKS)} tasks x shots {'/'.join(SHOTS)} x n={args.n}, device {args.device}, {args.dtype}, "
          f"{os.cpu_count()} CPUs, load average at the start {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("building the stand-in hub cache:", flush=True)
        build_cache(tmp / "hub", args.models)
        env = {**os.environ, "HF_HUB_CACHE": str(tmp / "hub"), "HF_HUB_OFFLINE": "1",
               "EMERGENT_CACHE": str(tmp / "emergent"), "PYTHONWARNINGS": "ignore"}
        print(f"{'models':<20} {'cells':>5} {'wall s':>8} {'CPU s':>8} {'CPU s/cell':>11}", flush=True)
        runs = [[name] for name in args.models] if args.per_model else [args.models]
        total_wall = total_cpu = 0.0
        for i, models in enumerate(runs):
            env["EMERGENT_CACHE"] = str(tmp / f"emergent-{i}")  # empty: every cell is computed
            wall, cpu = timed_sweep(models, args, env, tmp / f"out-{i}")
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            name = models[0] if args.per_model else "the whole command"
            print(f"{name:<20} {cells * len(models):>5} {wall:>8.1f} {cpu:>8.1f} "
                  f"{cpu / (cells * len(models)):>11.2f}", flush=True)
        if args.per_model:
            print(f"{'sum':<20} {cells * len(runs):>5} {total_wall:>8.1f} {total_cpu:>8.1f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
