"""Toy model zoo: small Llama models trained on the reader's CPU, saved as Hugging Face checkpoints.

    from emergent_lib.toy import get_family, checkpoint_dir
    rows = get_family("addition-3d-full")       # trains what is missing (minutes), else instant
    path = checkpoint_dir("addition-3d-full/w64-l2/seed1/step720")

Modules: `tokenizer` (character vocabulary), `model` (the network and its sizes), `training`
(one seeded loop), `zoo` (families, cache, parallel training). This package imports only
`emergent_lib.tasks` from the library: everything above it loads toy models by path.
"""
from .model import count_params, make_config, make_model, parse_size, to_hf
from .tokenizer import build_tokenizer
from .training import TrainConfig, train, training_data
from .zoo import (DEFAULT_FAMILY, FAMILIES, Family, cache_root, checkpoint_dir, family,
                  get_family, is_complete, list_checkpoints, model_dir)

__all__ = ["FAMILIES", "DEFAULT_FAMILY", "Family", "TrainConfig", "get_family", "checkpoint_dir",
           "list_checkpoints", "model_dir", "cache_root", "is_complete", "family",
           "train", "training_data", "make_model", "make_config", "parse_size", "count_params",
           "to_hf", "build_tokenizer"]
