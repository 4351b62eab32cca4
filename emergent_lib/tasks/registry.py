"""The task registry: one name per built-in task, and the one way to get a task by name
(or from a YAML file); an unknown name gets a did-you-mean."""
from __future__ import annotations

from typing import Callable

from ..errors import UnknownNameError, unknown_name
from .core import Task
from .yaml_tasks import load_task_yaml

__all__ = ["register", "list_tasks", "get_task"]

_REGISTRY: dict[str, Callable[[], Task]] = {}


def register(name: str, factory: Callable[[], Task]) -> None:
    """Add a task under `name` (a factory, so tasks are built only when asked for)."""
    _REGISTRY[name] = factory


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str | Task) -> Task:
    """The task called `name`, or one read from a YAML file when `name` ends in .yaml/.yml."""
    if isinstance(name, Task):
        return name
    if str(name).endswith((".yaml", ".yml")):
        return load_task_yaml(name)
    if name not in _REGISTRY:
        raise UnknownNameError(unknown_name("task", name, list_tasks(), more="or pass a path to a task YAML file."))
    return _REGISTRY[name]()
