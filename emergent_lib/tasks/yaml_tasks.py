"""Tasks from a user's YAML file: every field checked for its type, errors that name the
file and the field, files read as UTF-8."""
from __future__ import annotations

import random
import string
from pathlib import Path

import yaml

from ..errors import TaskError, suggest
from .core import Task, answer_budget, normalise_answer

# ----------------------------------------------------------------------------- user tasks (YAML)
_YAML_REQUIRED = ("name", "template", "target", "items")


def _template_fields(path: Path, field_name: str, text: str) -> list[str]:
    """The item fields a template names; only plain names, so `{}`, `{0}`, `{a.real}` and
    `{a[0]}` (which would read Python internals, not the item) are errors naming the field."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:
        raise TaskError(f"task file '{path}': field '{field_name}' is not a valid template ({err}); "
                        f"write literal braces as {{{{ and }}}}") from None
    names = []
    for _, name, spec, _ in parts:
        if name is None:
            continue
        if not name.isidentifier() or (spec and "{" in spec):
            raise TaskError(f"task file '{path}': field '{field_name}' uses {{{name}}}; a template may "
                            f"only name item fields, like {{question}}")
        names.append(name)
    return names


def load_task_yaml(path: str | Path) -> Task:
    """A task from a YAML file: fixed items rendered through a template.

    Required fields: name, template (a Python format string over item fields), target
    (the continuation, e.g. " {capital}"), items (a list of mappings). Optional:
    description, instruction, answer (format string for the canonical answer, default the
    target stripped), choices (a list of format strings for multiple choice, the first one
    being correct unless `label` names an item field), chance (mapping metric -> value),
    metrics, max_new_tokens (default: enough for the longest target, at least 16); for the prompting strategies, question (the item as a natural
    question, a format string), rationale (a worked solution ending in "The answer is ...",
    a format string; chain of thought needs it) and chat_instruction.
    """
    path = Path(path)
    if not path.exists():
        raise TaskError(f"task file '{path}' does not exist")
    if not path.is_file():
        raise TaskError(f"task file '{path}' is a directory, not a YAML file; pass the .yaml file itself")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise TaskError(f"task file '{path}' is not UTF-8 text (byte {err.object[err.start]:#04x} at "
                        f"position {err.start}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise TaskError(f"task file '{path}' is not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(spec, dict):
        raise TaskError(f"task file '{path}' must hold a mapping with fields {', '.join(_YAML_REQUIRED)}")
    for key in _YAML_REQUIRED:
        if key not in spec:
            raise TaskError(f"task file '{path}': missing required field '{key}'")
    items = spec["items"]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise TaskError(f"task file '{path}': field 'items' must be a non-empty list of mappings")
    for field_name in ("template", "target"):
        if not isinstance(spec[field_name], str):
            raise TaskError(f"task file '{path}': field '{field_name}' must be a string")
    known = {"name", "description", "instruction", "template", "target", "answer", "items",
             "choices", "label", "chance", "metrics", "max_new_tokens", "question", "rationale",
             "chat_instruction"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise TaskError(f"task file '{path}': unknown field '{unknown[0]}'.{suggest(unknown[0], sorted(known))}")
    optional_templates = [f for f in ("question", "rationale") if f in spec]
    for field_name in optional_templates:
        if not isinstance(spec[field_name], str):
            raise TaskError(f"task file '{path}': field '{field_name}' must be a string")
    if "answer" in spec and not isinstance(spec["answer"], str):
        raise TaskError(f"task file '{path}': field 'answer' must be a string")
    for field_name in ("metrics", "choices"):
        value = spec.get(field_name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            example = "[exact_match]" if field_name == "metrics" else '["{a}", "{b}"]'
            raise TaskError(f"task file '{path}': field '{field_name}' must be a list of strings, "
                            f"e.g. {field_name}: {example}")
    if spec.get("choices") == []:
        raise TaskError(f"task file '{path}': field 'choices' must not be empty")
    chance = spec.get("chance")
    if chance is not None and not (isinstance(chance, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in chance.items())):
        raise TaskError(f"task file '{path}': field 'chance' must be a mapping of metric name to "
                        f"number, e.g. chance: {{exact_match: 0.0}}")
    if "max_new_tokens" in spec and not (isinstance(spec["max_new_tokens"], int)
                                         and not isinstance(spec["max_new_tokens"], bool)
                                         and spec["max_new_tokens"] > 0):
        raise TaskError(f"task file '{path}': field 'max_new_tokens' must be a positive integer")
    label_field = spec.get("label")
    if label_field is not None and not isinstance(label_field, str):
        raise TaskError(f"task file '{path}': field 'label' must be the name of an item field")
    templates = {f: spec[f] for f in ("template", "target", *optional_templates, "answer") if f in spec}
    templates.update({f"choices[{k}]": c for k, c in enumerate(spec.get("choices") or [])})
    for field_name, text in templates.items():
        for name in _template_fields(path, field_name, text):
            for i, item in enumerate(items):
                if name not in item and name != "answer":
                    raise TaskError(f"task file '{path}': field '{field_name}' uses {{{name}}}, "
                                    f"which item {i} does not have")
    if label_field is not None:
        for i, item in enumerate(items):
            if label_field not in item:
                raise TaskError(f"task file '{path}': field 'label' names '{label_field}', which item {i} "
                                f"does not have")
            if not (str(item[label_field]).isdigit() and int(item[label_field]) < len(spec.get("choices") or [])):
                raise TaskError(f"task file '{path}': item {i}: '{label_field}' must be the index of "
                                f"the correct choice (0 to {len(spec.get('choices') or []) - 1})")

    answer_tpl = spec.get("answer")
    choice_tpls = spec.get("choices")

    def answer_of(f: dict) -> str:
        if answer_tpl is not None:
            return str(answer_tpl).format(**f)
        return normalise_answer(spec["target"].format(**f, answer=""))

    def choices_of(f: dict) -> tuple[tuple[str, ...], int]:
        options = tuple(str(c).format(**f) for c in choice_tpls)
        return options, int(f[label_field]) if label_field else 0

    def make_fields(rng: random.Random) -> dict:
        return dict(rng.choice(items))

    longest_target = max((spec["target"].format(**i, answer=answer_of(i)) for i in items), key=len)
    metrics = tuple(spec.get("metrics") or (("mc_accuracy", "brier") if choice_tpls else
                                             ("exact_match", "edit_similarity", "answer_logprob")))
    chance = dict(spec.get("chance") or ({"mc_accuracy": 1 / len(choice_tpls)} if choice_tpls else
                                        {"exact_match": 0.0}))
    task = Task(
        name=str(spec["name"]),
        description=str(spec.get("description", f"user task from {path.name}")),
        instruction=str(spec.get("instruction", "")),
        template=spec["template"],
        target_template=spec["target"],
        make_fields=make_fields,
        answer_of=answer_of,
        choices_of=choices_of if choice_tpls else None,
        chance=chance,
        metrics=metrics,
        max_new_tokens=int(spec.get("max_new_tokens", max(16, answer_budget(longest_target)))),
        max_unique=len(items),
        question_text=str(spec.get("question", "")),
        chat_instruction=str(spec.get("chat_instruction", "")),
        rationale_of=((lambda f: spec["rationale"].format(**f, answer=answer_of(f)))
                      if "rationale" in spec else None),
    )
    return task


