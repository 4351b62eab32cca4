"""The toy model: a small Llama, trained as a compact module, saved as `LlamaForCausalLM`.

Saving with the stock Hugging Face class means a toy checkpoint loads, prompts and decodes
exactly like a real model. Training uses `ToyLlama`, the same network written out in a page
(its parameter names are Hugging Face's, so its state dict loads straight into
`LlamaForCausalLM`): for models this small, framework overhead per step costs more than the
arithmetic, and this module cuts it several-fold. A test checks that both give the same logits.

A size name says the shape: "w64-l2" is hidden width 64 with 2 layers. Heads are 16 wide (8
below width 32), the MLP is 2x the width (SwiGLU), input and output embeddings are tied.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from .tokenizer import BOS_ID, EOS_ID, NEWLINE_ID, PAD_ID, VOCAB_SIZE

_SIZE = re.compile(r"^w(\d+)-l(\d+)$")
# longest sequence (prompt + answer) a toy model is built for: a 3-digit scratchpad is ~190
# characters. Only the position tables grow with it; weights and results do not change.
MAX_LEN = 256


def parse_size(name: str) -> tuple[int, int]:
    """(width, layers) of a size name such as "w64-l2"."""
    m = _SIZE.match(name)
    if not m:
        raise ValueError(f"size '{name}' is not of the form w<width>-l<layers>, e.g. 'w64-l2'")
    width, layers = int(m.group(1)), int(m.group(2))
    if width < 8 or width % 8 or layers < 1:
        raise ValueError(f"size '{name}': width must be a multiple of 8 (>= 8), layers >= 1")
    return width, layers


def make_config(size: str):
    """The `LlamaConfig` for a size name."""
    from transformers import LlamaConfig

    width, layers = parse_size(size)
    head_dim = 16 if width % 16 == 0 and width >= 32 else 8
    return LlamaConfig(
        vocab_size=VOCAB_SIZE, hidden_size=width, intermediate_size=2 * width,
        num_hidden_layers=layers, num_attention_heads=width // head_dim,
        num_key_value_heads=width // head_dim, head_dim=head_dim,
        max_position_embeddings=MAX_LEN, tie_word_embeddings=True, rms_norm_eps=1e-6,
        initializer_range=0.02, bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID)


class _Block(nn.Module):
    def __init__(self, d: int, ff: int, n_heads: int, eps: float):
        super().__init__()
        self.n_heads, self.eps = n_heads, eps
        self.input_layernorm = nn.Module()
        self.input_layernorm.weight = nn.Parameter(torch.ones(d))
        self.post_attention_layernorm = nn.Module()
        self.post_attention_layernorm.weight = nn.Parameter(torch.ones(d))
        self.self_attn = nn.Module()
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            setattr(self.self_attn, name, nn.Linear(d, d, bias=False))
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(d, ff, bias=False)
        self.mlp.up_proj = nn.Linear(d, ff, bias=False)
        self.mlp.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x, rope, mask, start: int = 0):
        """The block's output at positions `start:` (keys and values still come from all)."""
        b, t, d = x.shape
        a = self.self_attn
        h = F.rms_norm(x, (d,), self.input_layernorm.weight, self.eps)
        w = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])  # one matmul for q, k, v
        # (3, b, heads, t, hd); unbind, not indexing: its backward stacks instead of zero-filling
        q, k, v = (h @ w.T).view(b, t, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        cos, sin = rope
        half = q.shape[-1] // 2
        q = q[:, :, start:] * cos[start:] + q[:, :, start:].roll(half, dims=-1) * sin[start:]  # RoPE
        k = k * cos + k.roll(half, dims=-1) * sin
        # attention written out: for a dozen positions it is far cheaper than the fused kernel
        att = torch.softmax((q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5 + mask[start:], dim=-1)
        x = x[:, start:] + a.o_proj((att @ v).transpose(1, 2).reshape(b, t - start, d))
        h = F.rms_norm(x, (d,), self.post_attention_layernorm.weight, self.eps)
        m = self.mlp
        return x + m.down_proj(F.silu(m.gate_proj(h)) * m.up_proj(h))


class ToyLlama(nn.Module):
    """`LlamaForCausalLM`'s forward pass for training (no cache, no padding mask needed:
    sequences are right-padded and attention is causal). Returns logits."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        d, hd = config.hidden_size, config.head_dim
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(config.vocab_size, d)
        self.model.layers = nn.ModuleList(
            _Block(d, config.intermediate_size, config.num_attention_heads, config.rms_norm_eps)
            for _ in range(config.num_hidden_layers))
        self.model.norm = nn.Module()
        self.model.norm.weight = nn.Parameter(torch.ones(d))
        theta = config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float) / hd))
        freqs = torch.arange(config.max_position_embeddings).float()[:, None] * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        # rotate_half(x) * sin == x.roll(hd/2) * sin with the first half of sin negated
        sign = torch.cat((-torch.ones(hd // 2), torch.ones(hd // 2)))
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin() * sign, persistent=False)
        causal = torch.full((config.max_position_embeddings,) * 2, float("-inf")).triu(1)
        self.register_buffer("mask", causal, persistent=False)
        for mod in self.modules():  # Hugging Face's Llama initialisation
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=config.initializer_range)

    def forward(self, ids, where=None):
        """Logits for token ids (batch, time); only at positions `where` (a bool mask) if given."""
        t = ids.shape[1]
        x = self.model.embed_tokens(ids)
        rope = self.cos[:t], self.sin[:t]
        mask = self.mask[:t, :t]
        # With a loss mask, the last block only computes the positions from the first one
        # with a loss on (the answer): most of a short arithmetic text is the question.
        start = int(where.any(0).nonzero()[0]) if where is not None and where.any() else 0
        last = len(self.model.layers) - 1
        for i, block in enumerate(self.model.layers):
            x = block(x, rope, mask, start if i == last else 0)
        if where is not None:
            x = x[where[:, start:]]  # the output layer only where there is a loss: cheaper
        x = F.rms_norm(x, (x.shape[-1],), self.model.norm.weight, self.config.rms_norm_eps)
        return x @ self.model.embed_tokens.weight.T  # tied output layer


def make_model(size: str, seed: int) -> ToyLlama:
    """A freshly initialised model for training; the same seed gives the same weights."""
    torch.manual_seed(seed)
    return ToyLlama(make_config(size))


def to_hf(model: ToyLlama):
    """The same weights as a `LlamaForCausalLM`, ready for `save_pretrained`."""
    from transformers import LlamaForCausalLM

    hf = LlamaForCausalLM(model.config)
    missing, unexpected = hf.load_state_dict(model.state_dict(), strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise RuntimeError(f"weights do not match LlamaForCausalLM: {missing}, {unexpected}")
    hf.tie_weights()
    # plain `model.generate(...)` stops at the end of the answer line, as training taught it
    hf.generation_config.eos_token_id = [NEWLINE_ID, EOS_ID]
    hf.generation_config.pad_token_id = PAD_ID
    hf.generation_config.bos_token_id = BOS_ID
    return hf.eval()


def count_params(model) -> tuple[int, int]:
    """(total, non-embedding) parameter counts.

    Non-embedding excludes the token embedding (tied with the output layer, so counted once
    in the total): it is the N of Kaplan et al. (2020), used for training FLOPs = 6 N D.
    """
    seen, total = set(), 0
    for p in model.parameters():  # tied weights are counted once
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    emb = model.get_input_embeddings().weight.numel() if hasattr(model, "get_input_embeddings") \
        else model.model.embed_tokens.weight.numel()
    return total, total - emb
