"""emergent_lib: the shared library of the course on emergent abilities of language models.

Data flows one way: tasks -> prompting -> models -> evaluate -> metrics -> sweep ->
analysis / plotting. The common entry points are importable from the package itself:

    from emergent_lib import load, get_task, run_sweep, emergence_plot
"""
__version__ = "0.1.0"

_EXPORTS = {
    "get_task": "tasks", "list_tasks": "tasks", "load_task_yaml": "tasks", "split_examples": "tasks",
    "build_prompts": "prompting", "STRATEGIES": "prompting", "get_strategy": "prompting",
    "load": "models", "model_cards": "models",
    "greedy_generate": "evaluate", "sample_generate": "evaluate", "score_continuations": "evaluate",
    "evaluate_examples": "evaluate",
    "score": "metrics", "bootstrap_ci": "metrics",
    "run_strategy": "strategies",
    "evaluate_cell": "cell", "run_sweep": "sweep",
    "emergence_plot": "plotting",
}


def __getattr__(name):
    # imported lazily: `import emergent_lib` stays fast and loads torch only when needed
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'emergent_lib' has no attribute '{name}'")


__all__ = sorted(_EXPORTS)
