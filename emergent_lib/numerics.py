"""The pinned numeric mode: the same toy weights for the same seed on every x86-64 machine.

Why: PyTorch picks its CPU kernels by the processor's SIMD level (AVX-512, AVX2 or none), and
MKL its matrix kernels likewise. Each level rounds differently, and near an emergence
threshold a last-bit difference in one step grows into a different trained model. Measured
on an AMD EPYC with AVX-512 (torch 2.13, one thread, 200 training steps): the native, AVX2
and default ATen levels give three different weight hashes; `MKL_ENABLE_INSTRUCTIONS=AVX2`
(MKL's ISA cap, which keeps Intel CPUs with AVX-512 on MKL's AVX2 kernels) and
`ONEDNN_MAX_CPU_ISA=AVX2` changed nothing there; MKL's reproducibility mode `MKL_CBWR=AVX2`
did change the weights of models with 8-wide heads (on AMD CPUs MKL documents that it then
falls back to another branch), so it is not used. With the ATen level pinned to AVX2 this
machine reproduced, value for value, the toy results made on an AVX2 machine. Pinning AVX2
costs about 3% of training speed.

These variables act only when set before torch is loaded, so toy training runs in a process
started in the pinned mode (`zoo` starts one when the caller's is not), the course's Jupyter
kernel is installed with them (`kernel_args`), and the test suite sets them first
(`pin_this_process`). ARM machines cannot compute what x86 computes bit for bit: there the
mode records what ran, and the course's claims are the ones that hold for any training seed.

`EMERGENT_TOY_SIMD` (avx2, avx512 or default) pins another level, which is how a test plays
another machine; the level is part of every toy model's fingerprint.
"""
from __future__ import annotations

import os
import platform
import sys

LEVELS = ("avx2", "avx512", "default")  # ATen's names for the levels a user may pin
_X86 = ("x86_64", "amd64", "i386", "i686")


def _level() -> str:
    level = os.environ.get("EMERGENT_TOY_SIMD", "avx2").lower()
    if level not in LEVELS:
        raise ValueError(f"EMERGENT_TOY_SIMD must be one of {', '.join(LEVELS)}, got '{level}'")
    return level


def pinned_env() -> dict[str, str]:
    """The environment variables of the pinned mode on this machine (none off x86-64)."""
    if platform.machine().lower() not in _X86:
        return {}
    level = _level()
    mkl, onednn = _BRANCHES[level]
    return {"ATEN_CPU_CAPABILITY": level, "MKL_ENABLE_INSTRUCTIONS": mkl, "ONEDNN_MAX_CPU_ISA": onednn}


# ATen level -> (MKL's ISA cap, oneDNN's ISA cap) of the same instruction set
_BRANCHES = {"avx2": ("AVX2", "AVX2"), "avx512": ("AVX512", "AVX512_CORE"), "default": ("SSE4_2", "SSE41")}


def expected_mode() -> str:
    """The mode a process started with `pinned_env()` computes in, without starting one.

    Part of every toy recipe's fingerprint: `x86_64/AVX2/mkl-isa=AVX2/torch=2.13.0+cpu`.
    """
    import torch.cpu

    machine = platform.machine().lower()
    version = torch.__version__  # the same source as current_mode(), so the two can be compared
    if machine not in _X86:
        return f"{machine}/native/torch={version}"
    env = pinned_env()
    level = env["ATEN_CPU_CAPABILITY"].upper()

    supported = {"AVX2": torch.cpu._is_avx2_supported(), "AVX512": torch.cpu._is_avx512_supported()}
    if not supported.get(level, True):
        raise RuntimeError(f"this CPU has no {level}, so toy models cannot be trained in the pinned mode "
                           f"(set EMERGENT_TOY_SIMD=default to pin the portable level instead)")
    return f"x86_64/{level}/mkl-isa={env['MKL_ENABLE_INSTRUCTIONS']}/torch={version}"


def current_mode() -> str:
    """The mode this process computes in, read from torch (loads it)."""
    import torch

    machine = platform.machine().lower()
    if machine not in _X86:
        return f"{machine}/native/torch={torch.__version__}"
    return (f"x86_64/{torch.backends.cpu.get_cpu_capability()}/mkl-isa={os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'auto')}"
            f"/torch={torch.__version__}")


def is_pinned() -> bool:
    """Whether this process computes in the pinned mode (then it may train toy models itself)."""
    return current_mode() == expected_mode()


def pin_this_process() -> None:
    """Put this process in the pinned mode; only possible before torch is imported.

    For entry points that train or evaluate toy models themselves (the test suite, the
    scripts that regenerate shipped data). A library import never calls it.
    """
    if "torch" in sys.modules:
        if is_pinned():
            return
        raise RuntimeError("pin_this_process() must run before torch is imported "
                           f"(this process computes in {current_mode()}, not {expected_mode()})")
    os.environ.update(pinned_env())


def mode_env() -> dict[str, str | None]:
    """This process's values (None: unset) of the variables that decide its numeric mode: a
    worker process that sets them before loading torch computes in the same mode."""
    names = ("EMERGENT_TOY_SIMD", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")
    return {name: os.environ.get(name) for name in names}


def kernel_args() -> list[str]:
    """`--env NAME VALUE` arguments that install a Jupyter kernel in the pinned mode."""
    return [arg for name, value in pinned_env().items() for arg in ("--env", name, value)]


if __name__ == "__main__":  # `python -m emergent_lib.numerics`: the kernel's --env arguments (Makefile)
    print(" ".join(kernel_args()))
