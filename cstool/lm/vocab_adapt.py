"""Vocabulary adaptation: give a trained causal LM a new tokenizer (``cstool adapt-vocab``).

``replace``: the model's tokenizer becomes NEW (e.g. one from ``cstool train-tokenizer`` on the new
language). ``extend``: NEW's pieces that the old tokenizer lacks are added to the old tokenizer as added
tokens (matched in the text before the old tokenizer's own pieces), the old ids keep their rows.

Each new row, of the input embeddings and of the output embeddings (the LM head, when it is not tied), is
the mean of the old rows of the new piece's decomposition by the old tokenizer:

    E_new[v] = (1 / |d(v)|) · Σ_{u ∈ d(v)} E_old[u],   d(v) = old_tokenizer(surface(v))

where ``surface(v)`` is the piece's text, a leading word-boundary marker (``▁`` of sentencepiece, ``Ġ``
of byte-level BPE) read as a space. A special token (BOS, EOS, PAD, UNK) takes the old special token of the
same role when the old tokenizer has one; a piece with an empty decomposition, and a byte-level piece that is
not whole UTF-8 (its text has U+FFFD), takes the mean of all old rows (``extend`` does not add those).
"""

from __future__ import annotations

from typing import Any

MODES = ("replace", "extend")
_MARKERS = ("▁", "Ġ")
_ROLES = ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id")


def piece_surface(tokenizer, token_id: int) -> str:
    """The text of one piece of ``tokenizer``, with a leading word-boundary marker as a space."""
    piece = tokenizer.convert_ids_to_tokens(token_id)
    text = tokenizer.convert_tokens_to_string([piece])
    if piece.startswith(_MARKERS) and not text.startswith(" "):
        text = " " + text
    return text


def decompositions(old_tok, new_tok, ids: list[int]) -> list[list[int]]:
    """For each new id, the old ids its row is the mean of (empty: the mean of all old rows)."""
    specials = {getattr(new_tok, role): getattr(old_tok, role) for role in _ROLES}
    specials = {k: v for k, v in specials.items() if k is not None and v is not None}
    special_ids = set(new_tok.all_special_ids)
    out = []
    for i in ids:
        if i in specials:
            out.append([specials[i]])
        elif i in special_ids:
            out.append([])
        else:
            text = piece_surface(new_tok, i)
            out.append([] if "\ufffd" in text else old_tok(text, add_special_tokens=False)["input_ids"])
    return out


def _mean_rows(old, parts: list[list[int]]):
    import torch

    fallback = old.mean(0)
    rows = [old[p].mean(0) if p else fallback for p in parts]
    return torch.stack(rows) if rows else old[:0]


def extended_tokenizer(old_tok, new_tok) -> tuple[Any, int]:
    """A copy of ``old_tok`` with NEW's pieces it lacks added as tokens; (tokenizer, number added)."""
    import copy

    from tokenizers import AddedToken

    tok = copy.deepcopy(old_tok)
    have = set(tok.get_vocab())
    seen: set[str] = set()
    surfaces = []
    for i in range(len(new_tok)):
        if i in new_tok.all_special_ids:
            continue
        text = piece_surface(new_tok, i)
        if len(text.strip()) < 2 or "\ufffd" in text or text in seen or new_tok.convert_ids_to_tokens(i) in have:
            continue
        seen.add(text)
        surfaces.append(AddedToken(text, normalized=False, special=False))
    return tok, tok.add_tokens(surfaces)


def adapt_vocabulary(model, old_tok, new_tok, *, mode: str = "replace"):
    """Give ``model`` (made with ``old_tok``) the tokenizer of ``mode``; returns (model, tokenizer).

    The model is changed in place: its embedding tables get ``len(tokenizer)`` rows, the new ones set by
    the mean rule of the module docstring, and its config's special ids are the new tokenizer's.
    """
    import torch

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "extend":
        tok, _ = extended_tokenizer(old_tok, new_tok)
        start = len(old_tok)
    else:
        tok, start = new_tok, 0
    new_ids = list(range(start, len(tok)))
    parts = decompositions(old_tok, tok, new_ids)
    tied = model.config.tie_word_embeddings
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = None if tied else model.get_output_embeddings().weight.detach().clone()
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    with torch.no_grad():
        keep = min(start, old_in.shape[0])
        model.get_input_embeddings().weight[:keep] = old_in[:keep]
        model.get_input_embeddings().weight[start:] = _mean_rows(old_in, parts)
        if old_out is not None:
            model.get_output_embeddings().weight[:keep] = old_out[:keep]
            model.get_output_embeddings().weight[start:] = _mean_rows(old_out, parts)
    for role in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.config, role, getattr(tok, role))
        if getattr(model, "generation_config", None) is not None:
            setattr(model.generation_config, role, getattr(tok, role))
    return model, tok
