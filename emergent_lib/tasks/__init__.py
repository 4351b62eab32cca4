"""Tasks as data: seeded example generators, prompt templates, answer normalisers, chance levels.

Everything above this package (prompting, evaluation, metrics) works on any task alike,
whether built in or read from a user's YAML file. Its parts:

- `core`: `Example`, `Task`, splitting items into test items and exemplars, answer budgets
  and task fingerprints;
- `registry`: `get_task`, `list_tasks`, `register`;
- `generators`: the built-in tasks (arithmetic, modular addition, comparison, unscrambling);
- `solutions`: their worked solutions (rationales, scratchpads, decompositions);
- `misconceptions`: addition with planted misconceptions, a training text and its test sets
  (Lab 5b's inverse scaling);
- `yaml_tasks`: tasks from a user's YAML file.
"""
from ..errors import TaskError
from .core import Example, Task, answer_budget, normalise_answer, split_examples, task_fingerprint
from .registry import get_task, list_tasks, register
from .generators import arithmetic_task, compare_task, modular_task, unscramble_task, word_list
from . import misconceptions  # registers its tasks
from .yaml_tasks import load_task_yaml

__all__ = [
    "Example", "Task", "TaskError", "get_task", "list_tasks", "register", "load_task_yaml",
    "split_examples", "normalise_answer", "answer_budget", "task_fingerprint",
    "arithmetic_task", "modular_task", "compare_task", "unscramble_task", "word_list",
]

# The package is their public home: reprs, pickles and task fingerprints (which name the
# normaliser's class) say emergent_lib.tasks, whatever file inside it defines them.
Example.__module__ = Task.__module__ = __name__
