"""A character-level tokenizer, saved as an ordinary Hugging Face `PreTrainedTokenizerFast`.

One token per character keeps arithmetic honest: the model sees every digit on its own, so
per-digit accuracy means what it says. The vocabulary is fixed (special tokens, "\\n", then
printable ASCII), so every toy model shares the same token ids and the training loop can turn
text into ids with a dict lookup that gives exactly what the saved tokenizer gives.
"""
from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
CHARS = "\n" + "".join(chr(c) for c in range(32, 127))  # "\n" + printable ASCII
VOCAB: dict[str, int] = {tok: i for i, tok in enumerate(SPECIALS + tuple(CHARS))}
PAD_ID, BOS_ID, EOS_ID, UNK_ID = (VOCAB[t] for t in SPECIALS)
NEWLINE_ID = VOCAB["\n"]
VOCAB_SIZE = len(VOCAB)  # 100


def encode(text: str, bos: bool = True) -> list[int]:
    """Token ids of `text`, as `tokenizer(text)["input_ids"]` gives them (BOS first)."""
    ids = [VOCAB.get(c, UNK_ID) for c in text]
    return [BOS_ID, *ids] if bos else ids


def build_tokenizer():
    """The Hugging Face tokenizer: one token per character, a BOS added to every text."""
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab=dict(VOCAB), unk_token=UNK))
    # split before every character ([\s\S] also matches "\n"), each piece a token
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, BOS_ID)])
    tok.decoder = decoders.Fuse()  # join characters with no spaces between them
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        clean_up_tokenization_spaces=False, model_max_length=512)
