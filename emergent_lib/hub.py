"""Hub models at a revision: `NAME@REVISION` specs, Pythia's training checkpoints, the local cache.

A revision is a branch, tag or commit of a Hugging Face repository. Pythia publishes one
branch per training checkpoint (`step3000`), so `pythia-160m@step3000` is the 160M model
after 3000 steps, and the tokens it has seen, hence its training compute, are known.
"""
from __future__ import annotations

import os
import re
import socket

__all__ = ["split_revision", "revision_step", "check_revision", "pythia_steps", "pythia_tokens",
           "PYTHIA_TOKENS_PER_STEP", "hub_cache_dir", "hub_reachable", "download_hint", "HUB_HOST"]

HUB_HOST = "huggingface.co"

# Biderman et al. 2023 (arXiv:2304.01373), Sec. 2.1 and Table 1: every Pythia model is trained
# with batches of 1024 sequences of 2048 tokens, 2,097,152 tokens a step, for 143,000 steps.
PYTHIA_TOKENS_PER_STEP = 1024 * 2048
PYTHIA_LAST_STEP = 143_000

_STEP = re.compile(r"step(\d+)")
# branch and tag names and commit hashes; no spaces, no '..', no leading '-' or '/'
_REVISION = re.compile(r"(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.\-/]*(?<!/)")


def split_revision(spec: str) -> tuple[str, str | None]:
    """("pythia-160m", "step3000") for "pythia-160m@step3000"; (spec, None) without an '@'."""
    name, at, revision = str(spec).partition("@")
    return (name, revision) if at else (str(spec), None)


def revision_step(revision: str | None) -> int | None:
    """The training step of a Pythia-style revision ("step3000" -> 3000), else None."""
    match = _STEP.fullmatch(revision or "")
    return int(match.group(1)) if match else None


def pythia_steps() -> list[int]:
    """The steps Pythia saved (Biderman et al. 2023, Sec. 2.1): 0, ten log-spaced ones from
    1 to 512, then every 1000 to 143,000: 154 checkpoints."""
    return [0, *(2 ** i for i in range(10)), *range(1000, PYTHIA_LAST_STEP + 1, 1000)]


def pythia_tokens(step: int) -> int:
    """Training tokens a Pythia model has seen after `step` steps."""
    return step * PYTHIA_TOKENS_PER_STEP


def check_revision(spec: str, revision: str, family: str | None) -> None:
    """Fail on a revision that cannot exist, before anything downloads: a malformed name,
    or a Pythia step that has no checkpoint."""
    if not revision:
        raise ValueError(f"'{spec}' ends in '@' with no revision after it; give a branch, tag or "
                         f"commit, e.g. pythia-160m@step3000")
    if not _REVISION.fullmatch(revision):
        raise ValueError(f"'{revision}' in '{spec}' is not a revision name; give a branch, tag or "
                         f"commit of the hub repository after '@', e.g. pythia-160m@step3000")
    step = revision_step(revision)
    if family == "pythia" and step is not None and step not in set(pythia_steps()):
        steps = pythia_steps()
        below = max(s for s in steps if s < step)
        above = [s for s in steps if s > step]
        nearest = f"step{below} or step{above[0]}" if above else f"step{below}"
        raise ValueError(f"'{spec}': Pythia has no checkpoint at step {step}; it saved step0, step1, "
                         f"step2, step4, ..., step512 and every 1000 steps to step{PYTHIA_LAST_STEP} "
                         f"(the nearest: {nearest})")


def hub_cache_dir() -> str | None:
    """The Hugging Face hub cache that the environment names now (HF_HUB_CACHE, else
    HF_HOME/hub), or None for the library default. Read at each load, not when
    huggingface_hub was imported, so a cache set in a running notebook is the one used."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return None


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    host = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def download_hint(hub_id: str, revision: str | None) -> str:
    """The shell command that puts a hub model (at a revision) into the local cache."""
    return f"hf download {hub_id}" + (f" --revision {revision}" if revision else "")
