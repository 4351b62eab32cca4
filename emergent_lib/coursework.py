"""Coursework: build student notebooks and autograders from the otter-assign masters.

The masters live in the repository's `assignments/` folder, one Jupyter notebook per chapter,
in the format of otter-grader's `otter assign`. `build` copies each master into a staging
folder (replacing its cohort seed if asked, and bundling this library as a wheel so that a
Gradescope autograder can install it), runs `otter assign`, which also checks that the
solutions pass every test, and leaves

    <out>/<name>/student/<name>.ipynb       the notebook to hand out, with its data files
    <out>/<name>/autograder/<name>-autograder_<time>.zip   the autograder (`otter run -a`, Gradescope)

otter-grader is needed only here (the `dev` extra); nothing else in the library imports it.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import yaml

if TYPE_CHECKING:
    import nbformat

__all__ = ["CHAPTERS", "SEED_LINE", "list_masters", "read_config", "set_cohort_seed", "build_wheel", "build"]

# The line of a master's data cell that fixes the cohort's numbers (see book/coursework.md)
SEED_LINE = re.compile(r"^COHORT_SEED = \d+[ \t]*$", re.MULTILINE)
CONFIG_HEADER = re.compile(r"^#\s+assignment\s+config\s*$", re.IGNORECASE)
# pip options and the wheel's place inside the Gradescope image (otter unzips the autograder
# into /autograder/source; files listed in the config go to its files/ folder)
CPU_TORCH_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
AUTOGRADER_FILES = "/autograder/source/files"


# The course's masters in the order of its chapters; any other master follows, by name
CHAPTERS = ("definition", "evidence", "strategies", "explanations", "predicting")


def list_masters(masters_dir: str | Path = "assignments") -> dict[str, Path]:
    """name -> master notebook, for every `*.ipynb` directly in `masters_dir`, in chapter order."""
    root = Path(masters_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder of assignment masters at '{root}'; run from the repository root "
                                f"or pass --masters")
    paths = sorted(root.glob("*.ipynb"), key=lambda p: (CHAPTERS.index(p.stem) if p.stem in CHAPTERS
                                                      else len(CHAPTERS), p.stem))
    found = {p.stem: p for p in paths}
    if not found:
        raise FileNotFoundError(f"no master notebooks (*.ipynb) in '{root}'")
    return found


def _config_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "raw" and CONFIG_HEADER.match(cell.source.splitlines()[0] if cell.source else ""):
            return cell
    raise ValueError("the master has no raw '# ASSIGNMENT CONFIG' cell")


def read_config(nb: nbformat.NotebookNode) -> dict:
    """The master's assignment configuration (the YAML of its '# ASSIGNMENT CONFIG' cell)."""
    return yaml.safe_load(_config_cell(nb).source.split("\n", 1)[1]) or {}


def _write_config(nb: nbformat.NotebookNode, config: dict) -> None:
    cell = _config_cell(nb)
    cell.source = cell.source.split("\n", 1)[0] + "\n" + yaml.safe_dump(config, sort_keys=False).rstrip()


def set_cohort_seed(nb: nbformat.NotebookNode, seed: int) -> nbformat.NotebookNode:
    """Replace the value of every `COHORT_SEED = <n>` line of the master's code cells."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"the cohort seed must be an integer >= 0, got {seed!r}")
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source, n = SEED_LINE.subn(f"COHORT_SEED = {seed}", cell.source)
            replaced += n
    if replaced == 0:
        raise ValueError("the master has no 'COHORT_SEED = <number>' line to replace")
    return nb


def _project_root() -> Path | None:
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def build_wheel(dest: Path) -> Path:
    """Build this library's wheel (no dependencies) into `dest`, from its source checkout."""
    root = _project_root()
    if root is None:
        raise RuntimeError("emergent_lib is not installed from a source checkout, so its wheel cannot be "
                           "built; pass --no-wheel (the autograder zip then needs emergent_lib installed "
                           "some other way)")
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(dest), str(root)], capture_output=True, text=True)
    wheels = sorted(dest.glob("emergent_lib-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"building the emergent_lib wheel failed:\n{done.stdout}{done.stderr}")
    return wheels[-1]


def _stage(master: Path, stage: Path, seed: int | None, wheel: Path | None) -> Path:
    """Copy a master and the files it lists into `stage`, with the seed and wheel filled in."""
    import nbformat
    nb = nbformat.read(master, as_version=4)
    config = read_config(nb)
    if seed is not None:
        set_cohort_seed(nb, seed)
    for rel in config.get("files", []):
        src = master.parent / rel
        if not src.exists():
            raise FileNotFoundError(f"{master.name} lists '{rel}' under files:, but {src} does not exist")
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, stage / rel)
    if wheel is not None:
        extra = config.get("requirements") or []
        if not isinstance(extra, list):
            raise ValueError(f"{master.name}: give requirements: as a list of packages, not a file, "
                             f"so that the emergent_lib wheel can be added to it")
        shutil.copy2(wheel, stage / wheel.name)
        config["requirements"] = [CPU_TORCH_INDEX, f"{AUTOGRADER_FILES}/{wheel.name}", *extra]
        config["autograder_files"] = [*config.get("autograder_files", []), wheel.name]
    _write_config(nb, config)
    path = stage / master.name
    nbformat.write(nb, path)
    return path


MANIFEST = ".emergent-assign.json"  # in <out>/<name>: the files that build made there


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()} - {MANIFEST}


def _write_manifest(result: Path) -> None:
    (result / MANIFEST).write_text(json.dumps(sorted(_files_under(result)), indent=0))


def _check_replaceable(result: Path, force: bool) -> None:
    """Refuse to replace `result` while it holds files that no build made (unless `force`)."""
    if force or not result.exists():
        return
    if not result.is_dir():
        raise ValueError(f"'{result}' is a file, where the assignment's folder goes; move it away "
                         f"or pass --force to replace it")
    try:
        made = set(json.loads((result / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        made = set()
    foreign = sorted(_files_under(result) - made)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ValueError(f"'{result}' holds files that `emergent assign` did not make ({shown}); "
                         f"building replaces that folder, so move them away or pass --force to delete them")


def build(names: Sequence[str] | None = None, masters_dir: str | Path = "assignments",
          out_dir: str | Path = "_build/assignments", seed: int | None = None, run_tests: bool = True,
          wheel: bool = True, log: Callable[[str], None] = print, force: bool = False) -> list[dict]:
    """Run `otter assign` on each master; one dict per assignment (name, student, autograder, seconds).

    `<out>/<name>` is replaced as a whole, so a build refuses to start while it holds files
    that no earlier build made (a student's notes, a copied dataset), unless `force`.

    With `run_tests` (the default) otter grades the solutions against all public and hidden
    tests and the build fails unless they get full marks, so `seed=` also checks that the
    solutions work for the new cohort's numbers.
    """
    if importlib.util.find_spec("otter") is None:
        raise RuntimeError("otter-grader is not installed: pip install otter-grader "
                           "(or pip install -e '.[dev]' in the course repository)")
    masters = list_masters(masters_dir)
    names = list(names) if names else list(masters)
    unknown = [n for n in names if n not in masters]
    if unknown:
        raise ValueError(f"no master notebook for {', '.join(unknown)} in '{masters_dir}'; "
                         f"known: {', '.join(masters)}")
    out = Path(out_dir).resolve()
    for name in names:  # before anything is built, so a refusal costs nothing
        _check_replaceable(out / name, force)
    staging = Path(tempfile.mkdtemp(prefix="emergent-assign-"))  # ours alone, removed below
    results = []
    try:
        wheel_path = build_wheel(staging / "wheel") if wheel else None
        for name in names:
            start = time.perf_counter()
            master = _stage(masters[name], staging / name, seed, wheel_path)
            result = out / name
            shutil.rmtree(result, ignore_errors=True)  # only what a build made, or --force
            cmd = [sys.executable, "-m", "otter", "assign", str(master), str(result)]
            if not run_tests:
                cmd.append("--no-run-tests")
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
                raise RuntimeError(f"otter assign failed for '{name}' (a failing test means the solutions "
                                   f"do not pass with these numbers):\n{tail}")
            _write_manifest(result)
            zips = sorted((result / "autograder").glob(f"{name}-autograder_*.zip"))
            info = {"name": name, "student": result / "student" / master.name,
                    "autograder": zips[-1] if zips else None, "seconds": time.perf_counter() - start}
            results.append(info)
            log(f"{name:<14} {info['seconds']:5.1f}s  student: {info['student']}  autograder: {info['autograder']}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return results
