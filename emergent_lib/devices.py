"""Where and in what precision a model computes: the device ("auto" picks CUDA, then MPS,
then the CPU), the dtype, and the batch size that keeps that device busy.

Results depend on the dtype (sweep cells are keyed by it); on the device only through
floating-point rounding, so a cell computed on a GPU is the same cell as on a CPU.
"""
from __future__ import annotations

import re

__all__ = ["pick_device", "dtype_name", "default_batch_size", "DTYPES"]

DTYPES = ("float32", "bfloat16", "float16")


def pick_device(device: str = "auto") -> str:
    """The torch device a model is put on: "auto" is the first of CUDA, MPS and the CPU that
    this machine has; a named one must exist here."""
    import torch
    device = str(device)
    has_cuda, has_mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if has_cuda else "mps" if has_mps else "cpu"
    cuda = re.fullmatch(r"cuda(?::(\d+))?", device)
    if device not in ("cpu", "mps") and cuda is None:
        raise ValueError(f"unknown device '{device}'; use auto, cpu, cuda, cuda:<index> or mps")
    if device == "mps" and not has_mps:
        raise ValueError("device 'mps' is not available: this machine has no Apple GPU that torch "
                         "can use; use --device cpu or auto")
    if cuda and not (has_cuda and int(cuda.group(1) or 0) < torch.cuda.device_count()):
        seen = f"{torch.cuda.device_count()} CUDA GPU(s)" if has_cuda else "no CUDA GPU"
        raise ValueError(f"device '{device}' is not available: this torch ({torch.__version__}) sees "
                         f"{seen}; use --device cpu or auto")
    return device


def dtype_name(dtype) -> str:
    """"float32", "bfloat16" or "float16", from that name or a torch dtype."""
    name = str(dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype}'; use one of {', '.join(DTYPES)}")
    return name


def default_batch_size(device: str) -> int:
    """Prompts per forward pass: 32 on a CPU (every CPU result of the course used 32); 64 on
    a CUDA GPU, which 32 short prompts leave mostly idle. 64 copies of a 300-token few-shot
    prefix cache of Pythia-12B (36 layers of width 5120, bfloat16) take about 14 GB, which
    fits beside its 24 GB of weights on an 80 GB card."""
    return 64 if str(device).startswith("cuda") else 32
