"""Prompting strategies that talk to a model: one entry, `run_strategy`, for all seven.

`run_strategy(lm, task, examples, pool, shots, strategy)` returns one record per example in
exactly the format of `evaluate.evaluate_examples` (prompt, output, prediction, answer,
target, answer_logprob, target_tokens, token_accuracy, choice_logprobs, label), so metrics,
sweeps and plots treat every strategy alike. Strategy-specific extras are added:

================  ===============================================================  ==================
strategy          what happens                                                     extras
================  ===============================================================  ==================
direct            few-shot / zero-shot prompt, greedy answer (evaluate_examples)   (none)
cot               exemplars with worked rationales; greedy; answer read after      reasoning
                  "The answer is" (Wei et al. 2022)
scratchpad        exemplars with <scratch> intermediate states; answer after       scratchpad
                  "Answer:" (Nye et al. 2021)
instruction       the task as an instruction: a chat turn through the tokenizer's  (none)
                  chat template when it has one, else "Instruction: ... Answer:"
zero-shot-cot     "Let's think step by step." (call 1), then the reasoning and     reasoning
                  "Therefore, the answer is" (call 2) (Kojima et al. 2022)
least-to-most     call 1 decomposes the question into sub-questions (exemplars);   decomposition,
                  then one call per sub-question, each answer appended to the      subquestions
                  context; the last sub-question is the original (Zhou et al. 2022)
self-consistency  k chain-of-thought samples at `temperature`, seeded; majority    votes, samples,
                  vote on the extracted answers (Wang et al. 2022)                 sample_predictions
================  ===============================================================  ==================

`output` is always the text the prediction is read from, so
`prompting.extract_prediction(task, r["output"], strategy) == r["prediction"]`: for
zero-shot CoT it is the reasoning plus "Therefore, the answer is" plus the answer call's
text; for least-to-most the answer to the last (original) question; for self-consistency
the first sample that gave the winning answer.

`answer_logprob` (and `token_accuracy`, `choice_logprobs` for multiple choice) is the
log-probability of the correct continuation after the *final answer prompt*: the prompt
plus the model's own reasoning up to its answer phrase ("The answer is", "Answer:"; the
phrase is appended when the model wrote none). For zero-shot CoT that is Kojima et al.'s
answer-extraction prompt; for least-to-most the last stage's prompt and reasoning; for
self-consistency the winning sample's reasoning. It is never NaN: "how likely is the right
answer, given the model's own work".

Generation budgets and stop strings are the strategies' own (`prompting.STRATEGIES`):
reasoning strategies get 1.25 x the token length of the longest worked solution of the items
at hand plus 8 tokens, unless `max_new_tokens` is given; zero-shot CoT reasons for up to 96
new tokens.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from .errors import TaskError
from .evaluate import (evaluate_examples, greedy_generate, make_record, sample_generate, score_choices,
                       score_continuations)
from .models import LanguageModel
from .answers import extract_answer, reasoning_of
from .prompting import (STRATEGIES, ZERO_SHOT_COT_ANSWER, Strategy, build_prompts, decompose_prompt,
                        get_strategy, parse_subquestions, select_exemplars, solution_budget, solve_prompt,
                        zero_shot_cot_answer_prompt, zero_shot_cot_prompt)
from .tasks import Example, Task, get_task

__all__ = ["run_strategy", "majority_vote", "chat_formatter", "ZERO_SHOT_COT_TOKENS"]

ZERO_SHOT_COT_TOKENS = 96  # Kojima et al. allowed 128; small models ramble rather than finish
ANSWER_CALL_SLACK = 2      # zero-shot CoT's answer call: the task's answer budget and 2 tokens


def majority_vote(answers: Sequence[str]) -> tuple[str, dict[str, int]]:
    """The most common non-empty answer and the vote counts (most votes first).

    Ties go to the answer that was sampled first, so the vote is deterministic; empty
    answers (no answer could be read) do not vote. With no non-empty answer: ("", {}).
    """
    counts = Counter(a for a in answers if a)
    if not counts:
        return "", {}
    first = {}
    for i, a in enumerate(answers):
        first.setdefault(a, i)
    order = sorted(counts, key=lambda a: (-counts[a], first[a]))
    return order[0], {a: counts[a] for a in order}


def chat_formatter(lm: LanguageModel):
    """messages -> prompt text through the tokenizer's chat template, or None without one."""
    tok = lm.tokenizer
    if not getattr(tok, "chat_template", None):
        return None
    bos = tok.bos_token
    adds_bos = bool(bos) and tok("a").input_ids[:1] == [tok.bos_token_id]

    def render(messages: list[dict]) -> str:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # the tokenizer adds its own BOS when the prompt is encoded: do not have it twice
        return text[len(bos):] if adds_bos and text.startswith(bos) else text
    return render


# ----------------------------------------------------------------------------- helpers
def _tokens(lm: LanguageModel, text: str) -> int:
    return len(lm.tokenizer(text, add_special_tokens=False).input_ids)


def _budget(lm: LanguageModel, texts: Sequence[str], override: int | None) -> int:
    """A reasoning budget for the worked texts of a stage (`prompting.solution_budget`)."""
    if override is not None:
        if override <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {override}")
        return override
    return solution_budget(lambda t: _tokens(lm, t), texts)


def _records(lm: LanguageModel, task: Task, spec: Strategy, prompts: Sequence[str], outputs: Sequence[str],
             contexts: Sequence[str], examples: Sequence[Example], extras: Sequence[dict],
             batch_size: int, progress: bool, strip_target: bool = False) -> list[dict]:
    """Records (`evaluate.Record`) with the strategy's extras, scored after each final answer prompt."""
    targets = score_continuations(lm, contexts, [ex.target.lstrip() if strip_target else ex.target
                                                 for ex in examples], batch_size, progress)
    choice_lps = score_choices(lm, contexts, examples, batch_size, progress, strip=strip_target)
    return [make_record(prompt, ex, out, spec.read_answer(task, out), tgt, clp).as_dict(**extra)
            for prompt, out, ex, tgt, clp, extra in zip(prompts, outputs, examples, targets, choice_lps, extras)]


# ----------------------------------------------------------------------------- strategies
def _single_call(lm, task, examples, exemplars, spec: Strategy, batch_size, progress, max_new_tokens):
    """One prompt and one greedy generation per item (cot, scratchpad, instruction)."""
    chat = chat_formatter(lm) if spec.uses_chat else None
    prompts = build_prompts(task, examples, exemplars, len(exemplars), spec.name, chat=chat)
    budget = spec.budget(task, [*exemplars, *examples], lambda t: _tokens(lm, t), max_new_tokens)
    outputs = greedy_generate(lm, prompts, budget, spec.stop, batch_size, progress)
    contexts = [spec.context(p, o) for p, o in zip(prompts, outputs)]
    extras = [spec.extras(o) for o in outputs]
    return _records(lm, task, spec, prompts, outputs, contexts, examples, extras, batch_size, progress,
                    strip_target=chat is not None)


def _zero_shot_cot(lm, task, examples, exemplars, spec, batch_size, progress, max_new_tokens, **_):
    if exemplars:
        raise TaskError(f"'zero-shot-cot' uses no exemplars (Kojima et al. 2022), but shots={len(exemplars)}: "
                        f"pass shots=0, or use 'cot' for few-shot chain of thought")
    first = [zero_shot_cot_prompt(task, ex) for ex in examples]
    reasoning = greedy_generate(lm, first, max_new_tokens or ZERO_SHOT_COT_TOKENS, spec.stop,
                                batch_size, progress)
    second = [zero_shot_cot_answer_prompt(p, r) for p, r in zip(first, reasoning)]
    answers = greedy_generate(lm, second, task.max_new_tokens + ANSWER_CALL_SLACK, ("\n",), batch_size, progress)
    outputs = [f"{r.rstrip()}\n{ZERO_SHOT_COT_ANSWER}{a}" for r, a in zip(reasoning, answers)]
    extras = [{"reasoning": r.strip()} for r in reasoning]
    return _records(lm, task, spec, first, outputs, second, examples, extras, batch_size, progress)


def _least_to_most(lm, task, examples, exemplars, spec, batch_size, progress, max_new_tokens, **_):
    items = [*exemplars, *examples]
    gold = [task.decompose_of(e.fields) for e in items]
    # stage 1: decompose
    first = [decompose_prompt(task, ex, exemplars) for ex in examples]
    lead = " " + ", ".join(f'"{q}"' for q, _ in max(gold, key=len)) + "."
    decomposed = greedy_generate(lm, first, _budget(lm, [lead], max_new_tokens), spec.stop, batch_size, progress)
    limit = max(len(g) for g in gold) + 2
    questions = [parse_subquestions(d, task.question_of(ex), limit) for d, ex in zip(decomposed, examples)]
    # stage 2: answer the sub-questions in order, each answer appended to the context
    budget = _budget(lm, [" " + a for g in gold for _, a in g], max_new_tokens)
    solved: list[list[tuple[str, str]]] = [[] for _ in examples]
    last_prompt, last_output = [""] * len(examples), [""] * len(examples)
    for step in range(max(len(q) for q in questions)):
        active = [i for i, q in enumerate(questions) if step < len(q)]
        prompts = [solve_prompt(task, exemplars, solved[i], questions[i][step]) for i in active]
        outs = greedy_generate(lm, prompts, budget, spec.stop, batch_size, progress)
        for i, p, o in zip(active, prompts, outs):
            solved[i].append((questions[i][step], o))  # solve_prompt strips it into the context
            last_prompt[i], last_output[i] = p, o
    contexts = [spec.context(p, o) for p, o in zip(last_prompt, last_output)]
    extras = [{"decomposition": d.strip(),
               "subquestions": [{"question": q, "output": a, "answer": extract_answer(a, task)} for q, a in s]}
              for d, s in zip(decomposed, solved)]
    return _records(lm, task, spec, last_prompt, last_output, contexts, examples, extras, batch_size, progress)


def _self_consistency(lm, task, examples, exemplars, spec, batch_size, progress, max_new_tokens, seed, k,
                      temperature):
    if k <= 0:
        raise ValueError(f"self-consistency needs k >= 1 samples, got k={k}")
    prompts = build_prompts(task, examples, exemplars, len(exemplars), "cot")
    budget = spec.budget(task, [*exemplars, *examples], lambda t: _tokens(lm, t), max_new_tokens)
    samples = sample_generate(lm, prompts, n_samples=k, temperature=temperature, seed=seed,
                              max_new_tokens=budget, stop=spec.stop, batch_size=max(1, batch_size // k),
                              progress=progress)
    outputs, extras = [], []
    for outs in samples:
        preds = [extract_answer(o, task) for o in outs]
        winner, votes = majority_vote(preds)
        chosen = outs[preds.index(winner)] if winner else outs[0]
        outputs.append(chosen)
        extras.append({"votes": votes, "samples": list(outs), "sample_predictions": preds,
                       "reasoning": reasoning_of(chosen)})
    contexts = [spec.context(p, o) for p, o in zip(prompts, outputs)]
    return _records(lm, task, spec, prompts, outputs, contexts, examples, extras, batch_size, progress)


# the strategies that make several model calls per item (their `prompt` is None)
_MULTI_CALL_RUNNERS = {"zero-shot-cot": _zero_shot_cot, "least-to-most": _least_to_most,
                       "self-consistency": _self_consistency}
assert set(_MULTI_CALL_RUNNERS) == {n for n, s in STRATEGIES.items() if s.prompt is None}


def run_strategy(lm: LanguageModel, task: Task | str, examples: Sequence[Example], pool: Sequence[Example],
                 shots: int, strategy: str = "direct", seed: int = 0, k: int = 5, temperature: float = 0.7,
                 batch_size: int = 16, progress: bool = False, max_new_tokens: int | None = None) -> list[dict]:
    """Evaluate `examples` under `strategy` with the first `shots` exemplars of `pool`.

    Returns one record per example in the format of `evaluate.evaluate_examples`, plus the
    strategy's extras (see the module docstring). `seed`, `k` and `temperature` are used by
    self-consistency (k samples per item, drawn with `sample_generate(seed=seed)`);
    `max_new_tokens` overrides the reasoning budget. A strategy that needs worked solutions
    on a task without them raises a TaskError naming both.
    """
    task = get_task(task)
    spec = get_strategy(strategy)
    exemplars = select_exemplars(pool, shots)
    examples = list(examples)
    if not examples:
        return []
    spec.check(task)
    if spec.name == "direct":  # plain evaluation: multiple choice answered by the likeliest choice
        prompts = build_prompts(task, examples, exemplars, len(exemplars), "direct")
        return evaluate_examples(lm, task, prompts, examples, batch_size=batch_size, progress=progress)
    if spec.prompt is not None:
        return _single_call(lm, task, examples, exemplars, spec, batch_size, progress, max_new_tokens)
    return _MULTI_CALL_RUNNERS[spec.name](lm, task, examples, exemplars, spec, batch_size, progress,
                                          max_new_tokens, seed=seed, k=k, temperature=temperature)
