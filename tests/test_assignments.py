"""Coursework (assignments/, emergent_lib.coursework, book/coursework.md): the otter-assign
masters build; their solutions pass every public and hidden test, for any cohort seed; the
student versions keep no solution and score zero as handed out; and the autograder gives exact
partial credit, without crashing, to submissions with wrong answers, exceptions and wrong types.

One build of all five assignments (`emergent assign`, what `make assignments` runs) into a
temporary folder is shared by every test. It runs `otter assign`, which grades the solutions
itself and fails unless they get full marks. Each real grading starts a Jupyter kernel (about
10 s on two busy cores), so the seed sweep and the hand-out checks run the notebooks' code and
otter's own test files in this process instead.
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

# otter's own code triggers these on recent pandas and traitlets; they are not ours to fix
pytestmark = [pytest.mark.filterwarnings("ignore:The inplace keyword"),
              pytest.mark.filterwarnings("ignore:Traits should be given as instances")]

ROOT = Path(__file__).resolve().parents[1]
MASTERS = ROOT / "assignments"
NAMES = ["definition", "evidence", "strategies", "explanations", "predicting"]
AUTOGRADED_POINTS = 9  # per assignment; each also has one written question of 3 points
OTTER_CELL = re.compile(r"\bgrader\b")  # init, check, check-all and export cells
ANSWER_TAGS = {"otter_answer_cell", "otter_assign_solution_cell"}  # student / autograder notebooks


# ----------------------------------------------------------------------------- helpers
def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def answer_cells(nb: nbformat.NotebookNode) -> dict[str, int]:
    """question -> index of the code cell the student answers it in (the one before its check)."""
    found, last = {}, None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and ANSWER_TAGS & set(cell.metadata.get("tags", [])):
            last = i
        check = re.fullmatch(r'grader\.check\("(\w+)"\)', cell.source.strip())
        if check and last is not None:
            found[check.group(1)], last = last, None
    return found


def set_seed(nb: nbformat.NotebookNode, seed: int) -> nbformat.NotebookNode:
    from emergent_lib.coursework import set_cohort_seed
    return set_cohort_seed(copy.deepcopy(nb), seed)


def execute(nb: nbformat.NotebookNode, workdir: Path) -> tuple[dict, list[str]]:
    """Run a notebook's code cells (not otter's) in one namespace, like a kernel; errors are collected."""
    import matplotlib
    import matplotlib.pyplot as plt
    env: dict = {"__name__": "__main__"}
    errors = []
    old, backend = os.getcwd(), matplotlib.get_backend()
    os.chdir(workdir)
    plt.switch_backend("Agg")
    try:
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or OTTER_CELL.search(cell.source):
                continue
            try:
                exec(compile(cell.source, f"<cell {i}>", "exec"), env)
            except Exception as err:  # noqa: BLE001 - a notebook keeps going after an error
                errors.append(f"cell {i}: {type(err).__name__}: {err}")
    finally:
        os.chdir(old)
        plt.close("all")
        plt.switch_backend(backend)
    return env, errors


def run_tests(test_dir: Path, env: dict) -> dict[str, tuple[float, float]]:
    """question -> (score, possible) with otter's own OK-format test runner (public and hidden)."""
    from otter.test_files.ok_test import OKTestFile
    scores = {}
    for path in sorted(test_dir.glob("q*.py")):
        test = OKTestFile.from_file(str(path))
        test.run(env)
        scores[test.name] = (test.score, test.possible)
    return scores


def master_tests(master: nbformat.NotebookNode) -> dict[str, tuple[int, int]]:
    """question -> (public, hidden) number of test cells in a master."""
    found, question, in_tests = {}, None, False
    for cell in master.cells:
        head = cell.source.strip()
        if cell.cell_type == "raw" and head.startswith("# BEGIN QUESTION"):
            question = re.search(r"^name:\s*(\w+)", head, re.M).group(1)
        elif cell.cell_type == "raw" and head.startswith(("# BEGIN TESTS", "# END TESTS")):
            in_tests = head.startswith("# BEGIN")
            found.setdefault(question, (0, 0))
        elif in_tests and cell.cell_type == "code":
            public, hidden = found[question]
            found[question] = (public, hidden + 1) if head.startswith("# HIDDEN") else (public + 1, hidden)
    return found


def solution_lines(master: nbformat.NotebookNode) -> set[str]:
    """Every non-trivial line of solution code in a master."""
    lines, in_block, in_raw_solution = set(), False, False
    for cell in master.cells:
        if cell.cell_type == "raw":
            head = cell.source.strip().upper()
            in_raw_solution = head.startswith("# BEGIN SOLUTION") or (in_raw_solution and not head.startswith("# END SOLUTION"))
            continue
        if cell.cell_type != "code" or not in_raw_solution:
            continue
        for line in cell.source.splitlines():
            text = line.strip()
            if text.startswith("# BEGIN SOLUTION"):
                in_block = True
            elif text.startswith("# END SOLUTION"):
                in_block = False
            elif (in_block or text.endswith("# SOLUTION")) and len(text) > 12:
                lines.add(text.removesuffix("# SOLUTION").strip())
    return lines


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """All five assignments, built once the way `make assignments` does (wheel and all)."""
    from emergent_lib.coursework import build
    out = tmp_path_factory.mktemp("assignments")
    results = build(NAMES, masters_dir=MASTERS, out_dir=out, log=lambda line: None)
    built = {}
    for info in results:
        tests = out / ".tests" / info["name"]
        with zipfile.ZipFile(info["autograder"]) as zf:
            zf.extractall(tests)
        built[info["name"]] = {**info, "tests": tests / "tests", "zip_dir": tests}
    return built


# ----------------------------------------------------------------------------- the masters
@pytest.mark.parametrize("name", NAMES)
def test_masters_are_small_clean_and_complete(name):
    from emergent_lib.coursework import SEED_LINE, read_config
    nb = read(MASTERS / f"{name}.ipynb")
    assert (MASTERS / f"{name}.ipynb").stat().st_size < 40_000
    for cell in nb.cells:  # committed without outputs
        assert cell.cell_type != "code" or (not cell.outputs and cell.execution_count is None)
    config = read_config(nb)
    assert config["name"] == f"emergent-{name}"
    assert all((MASTERS / f).is_file() for f in config["files"])
    assert sum(bool(SEED_LINE.search(c.source)) for c in nb.cells if c.cell_type == "code") == 1
    # every autograded question has public and hidden tests; every assignment a written question
    questions = [c.source for c in nb.cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    assert len(questions) == 5 and sum("manual: true" in q for q in questions) == 1
    counts = master_tests(nb)
    assert sorted(counts) == ["q1", "q2", "q3", "q4"]
    assert all(public >= 1 and hidden >= 1 for public, hidden in counts.values()), counts


def test_cohort_seed_is_replaced_and_checked():
    from emergent_lib.coursework import build, list_masters, set_cohort_seed
    nb = set_seed(read(MASTERS / "definition.ipynb"), 31337)
    assert "COHORT_SEED = 31337" in "\n".join(c.source for c in nb.cells)
    with pytest.raises(ValueError, match="COHORT_SEED"):
        set_cohort_seed(nbformat.v4.new_notebook(), 1)
    with pytest.raises(ValueError, match="integer"):
        set_cohort_seed(read(MASTERS / "definition.ipynb"), -1)
    assert list(list_masters(MASTERS)) == NAMES  # chapter order
    with pytest.raises(ValueError, match="no master notebook for nosuch"):
        build(["nosuch"], masters_dir=MASTERS, out_dir="unused", log=lambda line: None)


# ----------------------------------------------------------------------------- the build
@pytest.mark.parametrize("name", NAMES)
def test_build_writes_student_folder_and_autograder(built, name):
    info = built[name]
    student = info["student"].parent
    assert sorted(p.name for p in student.iterdir()) == ["data", f"{name}.ipynb"]
    assert (student / "data" / "toy_addition_predictions.csv").is_file()
    with zipfile.ZipFile(info["autograder"]) as zf:
        members = set(zf.namelist())
        environment = zf.read("environment.yml").decode()
        config = json.loads(zf.read("otter_config.json"))
    assert {"run_autograder", "setup.sh", "files/data/toy_addition_models.csv"} <= members
    assert {f"tests/q{i}.py" for i in range(1, 5)} <= members  # written q5 is graded by hand
    wheel = [m for m in members if m.startswith("files/emergent_lib-") and m.endswith(".whl")]
    assert len(wheel) == 1 and f"/autograder/source/{wheel[0]}" in environment
    assert "download.pytorch.org/whl/cpu" in environment and "python=3.11" in environment
    assert config["assignment_name"] == f"emergent-{name}"


@pytest.mark.parametrize("name", NAMES)
def test_student_version_has_no_solutions_or_hidden_tests(built, name):
    master = read(MASTERS / f"{name}.ipynb")
    student = read(built[name]["student"])
    text = "\n".join(c.source for c in student.cells)
    for marker in ("BEGIN SOLUTION", "# SOLUTION", "# HIDDEN", "Sample answer", "# BEGIN QUESTION", "# BEGIN TESTS"):
        assert marker not in text, marker
    code_lines = {line.strip() for c in student.cells if c.cell_type == "code" for line in c.source.splitlines()}
    assert len(solution_lines(master)) >= 20
    leaked = solution_lines(master) & code_lines
    assert not leaked, leaked
    assert text.count("_Type your answer here, replacing this text._") == 1  # the written question
    # the notebook carries the public tests only; the autograder has all of them
    counts = master_tests(master)
    tests = student.metadata["otter"]["tests"]
    assert sorted(tests) == sorted(counts)
    for question, (public, hidden) in counts.items():
        cases = tests[question]["suites"][0]["cases"]
        assert len(cases) == public and not any(case["hidden"] for case in cases)
        from otter.test_files.ok_test import OKTestFile
        full = OKTestFile.from_file(str(built[name]["tests"] / f"{question}.py"))
        assert sum(tc.hidden for tc in full.test_cases) == hidden and len(full.test_cases) == public + hidden


@pytest.mark.parametrize("name", NAMES)
def test_handed_out_notebook_runs_cleanly_and_scores_zero(built, name):
    student = built[name]["student"]
    env, errors = execute(read(student), student.parent)
    assert not errors, errors  # a student can run every cell before writing anything
    scores = run_tests(built[name]["tests"], env)
    assert sum(s for s, _ in scores.values()) == 0, scores
    assert sum(p for _, p in scores.values()) == AUTOGRADED_POINTS


@pytest.mark.parametrize("name", NAMES)
def test_solutions_pass_every_test_for_other_cohort_seeds(built, name):
    """otter assign checked the default seed; a new cohort's seed must work as well."""
    solutions = read(built[name]["student"].parents[1] / "autograder" / f"{name}.ipynb")
    problems = []
    for seed in (0, 7, 31337):
        env, errors = execute(set_seed(solutions, seed), built[name]["student"].parent)
        assert not errors, (seed, errors)
        assert env["COHORT_SEED"] == seed
        scores = run_tests(built[name]["tests"], env)
        assert all(score == possible for score, possible in scores.values()), (seed, scores)
        assert sum(p for _, p in scores.values()) == AUTOGRADED_POINTS
        problems.append(tuple(env["cohort"]["problem"]))
    assert len(set(problems)) == 3, "each seed should give the cohort different problems"


# ----------------------------------------------------------------------------- real grading
def _solution(name: str, built) -> dict[str, str]:
    nb = read(built[name]["student"].parents[1] / "autograder" / f"{name}.ipynb")
    return {q: nb.cells[i].source for q, i in answer_cells(nb).items()}


def _replace(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


def sample_answers(name: str, built) -> tuple[dict[str, str], dict[str, float], int | None]:
    """A filled-in submission: answers per question, the exact expected scores, and its seed."""
    sol = _solution(name, built)
    if name == "definition":  # right, right, half right, half right; from a cohort with seed 7
        plot = ('fig, ax = plt.subplots()\nfor seed, g in sweep.groupby("seed"):\n'
                '    ax.plot(g["params"], g["exact_match"], "o-")\n'
                'ax.plot(mean_curve.index, mean_curve.values, "k-")\n'
                'ax.axhline(0.5, color="grey")  # a line at 50%, but not the vertical one\n'
                'ax.set_xscale("log")\n')
        percent = _replace(sol["q4"], '"value"], 50.0)', '"value"], 0.5)')  # forgets the unit
        return ({"q1": sol["q1"], "q2": sol["q2"], "q3": plot, "q4": percent},
                {"q1": 3, "q2": 2, "q3": 1, "q4": 1}, 7)
    if name == "evidence":  # no length check; an exception in a cell; untouched; right
        no_check = ("def exact_match(predictions, answers):\n"
                    "    return float(np.mean([p == a for p, a in zip(predictions, answers)]))\n\n"
                    "def digit_accuracy(predictions, answers):\n"
                    "    out = []\n"
                    "    for p, a in zip(predictions, answers):\n"
                    "        width = max(len(p), len(a))\n"
                    "        out.append(sum(x == y for x, y in zip(p.rjust(width), a.rjust(width, '_'))) / width\n"
                    "                   if width else 1.0)\n"
                    "    return float(np.mean(out))\n")
        crash = "scores = pd.DataFrame(rows_i_never_made)  # NameError: the cell stops here\nscores\n"
        return ({"q1": no_check, "q2": crash, "q4": sol["q4"]},
                {"q1": 2, "q2": 0, "q3": 0, "q4": 2}, None)
    if name == "strategies":  # right, right, then two answers of the wrong type
        as_list = _replace(sol["q3"], "simulated = {p: simulate_vote(p, K_VOTES, N_TRIALS, rng) for p in P_GRID}",
                           "simulated = [simulate_vote(p, K_VOTES, N_TRIALS, rng) for p in P_GRID]")
        as_text = _replace(sol["q4"], 'smallest_helped = float(voting.loc[voting["helped"], "params"].min())',
                           'smallest_helped = f"{voting.loc[voting[\'helped\'], \'params\'].min():,} parameters"')
        return ({"q1": sol["q1"], "q2": sol["q2"], "q3": as_list, "q4": as_text},
                {"q1": 3, "q2": 2, "q3": 0, "q4": 0}, None)
    if name == "predicting":  # right, right, untouched; the error bar of one seed's answers, not two
        one_seed = _replace(sol["q4"], "n_answers = 2 * N_PROBLEMS", "n_answers = N_PROBLEMS")
        return ({"q1": sol["q1"], "q2": sol["q2"], "q4": one_seed},
                {"q1": 2, "q2": 2, "q3": 0, "q4": 2}, None)
    # explanations: no validation; right; untouched; the mean of all positions, not the product
    no_validation = "def task_success(p, k):\n    return np.asarray(p, dtype=float) ** k\n"
    mean_not_product = _replace(sol["q4"], "right.mean(axis=0).prod()", "right.mean()")
    return ({"q1": no_validation, "q2": sol["q2"], "q4": mean_not_product},
            {"q1": 1, "q2": 2, "q3": 0, "q4": 2}, None)


def fill(student: Path, answers: dict[str, str], seed: int | None, dest: Path) -> Path:
    nb = read(student)
    cells = answer_cells(nb)
    for question, source in answers.items():
        nb.cells[cells[question]].source = source
    if seed is not None:
        nb = set_seed(nb, seed)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / student.name
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("name", NAMES)
def test_sample_submission_gets_exact_partial_credit(built, name, tmp_path):
    """definition goes through the documented command line (otter run), the others the Python API."""
    answers, expected, seed = sample_answers(name, built)
    submission = fill(built[name]["student"], answers, seed, tmp_path / "submission")
    if name == "definition":
        out = tmp_path / "results"
        out.mkdir()
        done = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(built[name]["autograder"]),
                               "-o", str(out), "--no-logo", str(submission)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Total Score: 7.000 / 9.000" in done.stdout
        tests = {t["name"]: t for t in json.loads((out / "results.json").read_text())["tests"]}
        scores = {q: tests[q]["score"] for q in expected}
        assert all(tests[q]["max_score"] > 0 for q in expected)
    else:
        from otter.api import grade_submission
        results = grade_submission(str(submission), str(built[name]["autograder"]), quiet=True)
        assert results.possible == AUTOGRADED_POINTS
        scores = {q: results.get_score(q) for q in expected}
        if name == "evidence":  # the crash is reported as what it is
            assert "NameError: name 'scores' is not defined" in results.get_result("q2").summary()
        if name == "strategies":  # so is the wrong type
            assert "smallest_helped should be a float, got str" in results.get_result("q4").summary()
    assert scores == expected
    assert sum(scores.values()) == sum(expected.values())


def test_submission_to_the_wrong_autograder_is_refused_clearly(built):
    from otter.api import grade_submission
    with pytest.raises(Exception, match="assignment 'emergent-definition' .this is assignment 'emergent-evidence'"):
        grade_submission(str(built["definition"]["student"]), str(built["evidence"]["autograder"]), quiet=True)


# ----------------------------------------------------------------------------- the shipped data
def _pinned_x86_avx2() -> bool:
    from emergent_lib.numerics import expected_mode
    return expected_mode().startswith("x86_64/AVX2/")


@pytest.mark.skipif("not _pinned_x86_avx2()", reason="the committed files are those of the x86-64 AVX2 mode")
def test_shipped_data_is_what_the_pinned_toy_family_gives(tmp_path):
    """The committed CSV files are byte for byte what make_toy_addition.py writes from the toy
    family trained and evaluated in the pinned numeric mode (read from the book build's cache,
    or trained here): a reader on any x86-64 machine regenerates the same files."""
    script = ROOT / "assignments" / "data" / "make_toy_addition.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True,
                   capture_output=True, text=True, timeout=1800)
    for name in ("toy_addition_models.csv", "toy_addition_predictions.csv"):
        fresh, shipped = (tmp_path / name).read_bytes(), (ROOT / "assignments" / "data" / name).read_bytes()
        assert fresh == shipped, f"{name} differs from a fresh run: regenerate it with {script.name}"
