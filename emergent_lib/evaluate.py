"""Running a model on prompts: batched greedy decoding, answer log-probabilities, sampling.

Prompts are sorted by length and left-padded so one forward pass serves a whole batch and
generation stops as soon as every row has written a stop string. The answers are the same
as decoding each prompt on its own (a test checks this on SmolLM2-135M).
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

import torch
from .progress import tqdm
from transformers import StoppingCriteria, StoppingCriteriaList

from .models import LanguageModel
from .runs import seeded
from .tasks import Example, Task

__all__ = ["greedy_generate", "sample_generate", "score_continuations", "score_choices", "evaluate_examples",
           "Record", "make_record", "truncate_at_stop", "context_length", "ContextLengthError"]

_NO_LIMIT = 10**7  # tokenizers without a length limit report a huge model_max_length (1e30)


class ContextLengthError(ValueError):
    """A prompt, with the tokens to be written after it, does not fit the model's context."""


def context_length(lm: LanguageModel) -> int | None:
    """The most tokens the model reads at once: its position table (the config's
    max_position_embeddings), or the tokenizer's limit where that is smaller. Past it a
    model does not fail, it reads positions it never trained on and answers wrongly."""
    limits = (getattr(lm.model.config, "max_position_embeddings", None),
              getattr(lm.tokenizer, "model_max_length", None))
    return min((int(v) for v in limits if isinstance(v, (int, float)) and 0 < v < _NO_LIMIT), default=None)


def _check_context(lm: LanguageModel, lengths: Sequence[int], new_tokens: int) -> None:
    """Refuse, before any forward pass, work whose longest sequence the model cannot read."""
    limit = context_length(lm)
    longest = max(lengths, default=0)
    if limit is not None and longest + new_tokens > limit:
        budget = f" plus {new_tokens:,} answer tokens" if new_tokens else ""
        raise ContextLengthError(f"prompt of {longest:,} tokens{budget} exceeds {lm.name}'s context of "
                                 f"{limit:,} tokens: use fewer shots or a shorter task")


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string (the whole text when none occurs)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


class _StopOnText(StoppingCriteria):
    """Stop a row once its new text holds a stop string (cheap: decodes only new tokens).

    transformers' own `stop_strings` pre-processes the whole vocabulary on every call,
    which costs more than the generation itself for short answers.
    """

    def __init__(self, tokenizer, prompt_width: int, stop: Sequence[str]):
        self.tokenizer, self.prompt_width, self.stop = tokenizer, prompt_width, [s for s in stop if s]

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_width:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], dtype=torch.bool,
                            device=input_ids.device)


def _batches(order: list[int], batch_size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def _length_order(lengths: Sequence[int]) -> list[int]:
    return sorted(range(len(lengths)), key=lambda i: (lengths[i], i))


def _common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix that all sequences share, leaving each at least one token."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for s in seqs[1:]:
        k = 0
        while k < n and s[k] == first[k]:
            k += 1
        n = k
    return max(n, 0)


class _SharedPrefix:
    """The key/value cache of the token prefix that every prompt shares (the exemplars).

    Few-shot prompts repeat the same exemplars before each question, often nine tenths of
    the prompt: computing them once per evaluation instead of once per item is the largest
    saving on a CPU.
    """

    def __init__(self, lm: LanguageModel, prefix: Sequence[int]):
        self.ids = list(prefix)
        self.cache = None
        if self.ids:
            with torch.inference_mode():
                self.cache = lm.model(input_ids=torch.tensor([self.ids], device=lm.model.device), use_cache=True,
                                      logits_to_keep=1).cache

    def for_batch(self, size: int):
        if self.cache is None:
            return None
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(size)
        return cache


def _pad(rows: Sequence[Sequence[int]], pad: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        span = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, span] = torch.tensor(list(r), dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


def _pad_id(lm: LanguageModel) -> int:
    tok = lm.tokenizer
    return tok.pad_token_id if tok.pad_token_id is not None else 0


def _generate(lm: LanguageModel, prompts: Sequence[str], max_new_tokens: int, stop: Sequence[str],
              batch_size: int, progress: bool, desc: str, n_samples: int = 1, **sampling) -> list[list[str]]:
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be positive, got {max_new_tokens}")
    tok = lm.tokenizer
    encoded = [tok(p).input_ids for p in prompts]
    _check_context(lm, [len(e) for e in encoded], max_new_tokens)
    shared = _SharedPrefix(lm, encoded[0][:_common_prefix(encoded)])
    p = len(shared.ids)
    results: list[list[str]] = [[] for _ in prompts]
    bar = tqdm(total=len(prompts), desc=desc, disable=not progress, leave=False)
    for batch in _batches(_length_order([len(e) for e in encoded]), batch_size):
        # [shared prefix][left padding][question]: the mask hides the padding and
        # transformers derives each row's positions from the mask, so rows stay exact
        tails, tail_mask = _pad([encoded[i][p:] for i in batch], _pad_id(lm), left=True)
        ids = torch.cat([torch.tensor([shared.ids] * len(batch), dtype=torch.long).reshape(len(batch), p), tails], 1)
        mask = torch.cat([torch.ones((len(batch), p), dtype=torch.long), tail_mask], 1)
        cache = shared.for_batch(len(batch) * n_samples)
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids.to(lm.model.device), attention_mask=mask.to(lm.model.device), cache=cache,
                max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                stopping_criteria=StoppingCriteriaList([_StopOnText(tok, ids.shape[1], stop)]),
                num_return_sequences=n_samples, **sampling)
        texts = tok.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        for row, text in enumerate(texts):
            results[batch[row // n_samples]].append(truncate_at_stop(text, stop))
        bar.update(len(batch))
    bar.close()
    return results


def greedy_generate(lm: LanguageModel, prompts: Sequence[str], max_new_tokens: int = 16,
                    stop: Sequence[str] = ("\n",), batch_size: int = 32, progress: bool = False) -> list[str]:
    """Greedy continuation of every prompt, cut at the first stop string."""
    outs = _generate(lm, prompts, max_new_tokens, stop, batch_size, progress, "generating",
                     do_sample=False)
    return [o[0] for o in outs]


def sample_generate(lm: LanguageModel, prompts: Sequence[str], n_samples: int, temperature: float = 0.7,
                    seed: int = 0, max_new_tokens: int = 16, stop: Sequence[str] = ("\n",),
                    batch_size: int = 8, progress: bool = False) -> list[list[str]]:
    """`n_samples` sampled continuations per prompt; the same seed gives the same samples."""
    if n_samples <= 0:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature} (use greedy_generate for 0)")
    with seeded(seed):  # the caller's random stream is left as it was
        return _generate(lm, prompts, max_new_tokens, stop, batch_size, progress, "sampling",
                         n_samples=n_samples, do_sample=True, temperature=temperature, top_k=0, top_p=1.0)


def score_continuations(lm: LanguageModel, prompts: Sequence[str], continuations: Sequence[str],
                        batch_size: int = 32, progress: bool = False) -> list[dict]:
    """Teacher-forced score of each continuation after its prompt.

    Returns per item: `logprob` (sum of token log-probs), `n_tokens`, and `token_accuracy`
    (the share of continuation tokens that are the model's top choice): the smooth
    quantities of Schaeffer et al. (2023) beside exact match.
    """
    tok = lm.tokenizer
    prompt_ids = [tok(p).input_ids for p in prompts]
    cont_ids = [tok(c, add_special_tokens=False).input_ids for c in continuations]
    _check_context(lm, [len(pi) for pi in prompt_ids], max((len(ci) for ci in cont_ids), default=0))
    shared = _SharedPrefix(lm, prompt_ids[0][:_common_prefix(prompt_ids)])
    p = len(shared.ids)
    rests = [pi[p:] + ci for pi, ci in zip(prompt_ids, cont_ids)]
    results: list[dict] = [{} for _ in rests]
    batches = list(_batches(_length_order([len(r) for r in rests]), batch_size))
    for batch in tqdm(batches, desc="scoring", disable=not progress, leave=False):
        ids, mask = _pad([rests[i] for i in batch], _pad_id(lm), left=False)
        full_mask = torch.cat([torch.ones((len(batch), p), dtype=torch.long), mask], 1)
        positions = torch.arange(p, p + ids.shape[1]).expand(len(batch), -1)
        device = lm.model.device
        with torch.inference_mode():
            logits = lm.model(input_ids=ids.to(device), attention_mask=full_mask.to(device),
                              position_ids=positions.to(device),
                              cache=shared.for_batch(len(batch))).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        for row, i in enumerate(batch):
            n = len(cont_ids[i])
            if n == 0:
                results[i] = {"logprob": 0.0, "n_tokens": 0, "token_accuracy": 1.0}
                continue
            start = len(prompt_ids[i]) - p  # first continuation token, within the rest
            targets = torch.tensor(cont_ids[i], device=logp.device)
            rows = logp[row, start - 1:start - 1 + n]
            results[i] = {
                "logprob": float(rows.gather(1, targets[:, None]).sum()),
                "n_tokens": n,
                "token_accuracy": float((rows.argmax(-1) == targets).float().mean()),
            }
    return results


@dataclass
class Record:
    """One evaluated item: what the model read and wrote, what it should have written, and how
    likely it found the right answer. Metrics read these fields; a strategy adds its extras
    (reasoning, votes, ...) to the dict that `as_dict` makes."""
    prompt: str
    output: str
    prediction: str
    answer: str
    target: str
    answer_logprob: float
    target_tokens: int
    token_accuracy: float
    choice_logprobs: list[float] | None
    label: int

    def as_dict(self, **extras) -> dict:
        return {**asdict(self), **extras}


def score_choices(lm: LanguageModel, contexts: Sequence[str], examples: Sequence[Example],
                  batch_size: int = 32, progress: bool = False,
                  strip: bool = False) -> list[list[float] | None]:
    """The log-probability of every choice of each multiple-choice item after its context
    (None for an item without choices). `strip` drops the choices' leading space (a chat
    reply starts without one)."""
    flat_ctx = [c for c, ex in zip(contexts, examples) for _ in ex.choices]
    flat = [ch.lstrip() if strip else ch for ex in examples for ch in ex.choices]
    if not flat:
        return [None] * len(examples)
    scored = iter(score_continuations(lm, flat_ctx, flat, batch_size, progress))
    return [[next(scored)["logprob"] for _ in ex.choices] if ex.choices else None for ex in examples]


def make_record(prompt: str, ex: Example, output: str, prediction: str, target_score: dict,
                choice_logprobs: list[float] | None) -> Record:
    """The record of one item, from its prompt, output, prediction and target score."""
    return Record(prompt=prompt, output=output, prediction=prediction, answer=ex.answer, target=ex.target,
                  answer_logprob=target_score["logprob"], target_tokens=target_score["n_tokens"],
                  token_accuracy=target_score["token_accuracy"], choice_logprobs=choice_logprobs,
                  label=ex.label)


def evaluate_examples(lm: LanguageModel, task: Task, prompts: Sequence[str], examples: Sequence[Example],
                      batch_size: int = 32, progress: bool = False) -> list[dict]:
    """Per-example records (`Record.as_dict`): prompt, model output, prediction, target and
    their scores.

    Multiple-choice items are answered by the most likely choice; all others by greedy
    generation. Every item also gets the log-probability of its correct continuation.
    """
    if len(prompts) != len(examples):
        raise ValueError(f"{len(prompts)} prompts for {len(examples)} examples")
    if task.choices_of is None:  # the answers' budget must fit too, checked before scoring starts
        _check_context(lm, [len(lm.tokenizer(p).input_ids) for p in prompts], task.max_new_tokens)
    targets = score_continuations(lm, prompts, [ex.target for ex in examples], batch_size, progress)
    if task.choices_of is not None:
        choice_lps = score_choices(lm, prompts, examples, batch_size, progress)
        outputs = [ex.choices[max(range(len(lp)), key=lp.__getitem__)] for ex, lp in zip(examples, choice_lps)]
    else:
        choice_lps = [None] * len(examples)
        outputs = greedy_generate(lm, prompts, task.max_new_tokens, task.stop, batch_size, progress)
    return [make_record(p, ex, out, task.normalise(out), tgt, lp).as_dict()
            for p, ex, out, tgt, lp in zip(prompts, examples, outputs, targets, choice_lps)]
