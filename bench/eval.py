"""Benchmark cstool's perplexity scorer against a bare batched forward loop over the same batches.

    OMP_NUM_THREADS=1 .venv/bin/python bench/eval.py [--texts 600] [--repeats 3] [--device cpu|cuda]

Both sides score the same texts with the same randomly initialised Llama (``--hidden``/``--layers``; a
byte-level BPE tokenizer trained here on the texts). The bare side gets pre-tokenised, pre-padded tensors
of exactly the batches cstool plans (``lm_batches``: length-sorted, ≤ --batch-size rows, ≤ --max-tokens padded
tokens), already on the device, and only runs ``model(input_ids[:, :-1], attention_mask[:, :-1]).logits`` (each
window's input, as cstool reads it); cstool's side is
the whole ``score_lm`` call: tokenising, planning, padding, copying to the device, the forward pass and the
per-token NLL. Timings alternate between the two,
best of --repeats each. Throughput is scored tokens per second; the target is a ratio ≥ 0.9. "host side alone" is
score_lm's work without the model (tokenising, planning, padding, copying to the device): on a GPU that is what
the device waits for when it is not hidden behind the forward passes.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = (
    "the cat sits on mat a dog runs in park we read books every day and she writes long letters to her friends "
    "मैं घर जाता हूँ वह किताब पढ़ती है हम बाज़ार से फल लाते हैं बच्चे मैदान में खेलते हैं "
    "मी घरी जातो ती पुस्तक वाचते आम्ही शाळेत शिकतो पाऊस खूप पडला"
).split()


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60))) + " ." for _ in range(n)]


def build(texts: list[str], hidden: int, layers: int, vocab: int, device: str, dtype: str, model_vocab: int = 0):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<pad>", "<s>", "</s>"],
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer=trainer)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=max(len(hf_tok), model_vocab),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 64),
        max_position_embeddings=512,
        bos_token_id=hf_tok.bos_token_id,
        eos_token_id=hf_tok.eos_token_id,
        pad_token_id=hf_tok.pad_token_id,
    )
    model = LlamaForCausalLM(config).to(device=device, dtype=getattr(torch, dtype)).eval()
    return model, hf_tok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=600)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--model-vocab", type=int, default=0, help="embedding rows (≥ tokenizer size), e.g. 32000")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()

    import torch

    from cstool.base.devices import set_threads
    from cstool.lm.scoring import (
        batch_nll,
        context_length,
        lm_batches,
        pad_batch,
        score_lm,
    )

    if args.device == "cpu":
        set_threads(None)
    texts = make_texts(args.texts)
    model, tok = build(texts, args.hidden, args.layers, args.vocab, args.device, args.dtype, args.model_vocab)
    plan = [
        [w.ids for w in wins]
        for wins, _ in lm_batches(
            tok, texts, batch_size=args.batch_size, max_tokens=args.max_tokens, max_len=context_length(model)
        )
    ]
    batches = [pad_batch(seqs, args.device) for seqs in plan]
    n_tokens = sum(len(s) - 1 for seqs in plan for s in seqs)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"model: Llama {args.layers}x{args.hidden}, vocab {model.config.vocab_size}, {params:.1f}M params, "
        f"{args.dtype} on {args.device} "
        f"({torch.get_num_threads()} threads); {len(texts)} texts, {n_tokens} scored tokens, {len(plan)} batches"
    )

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def bare() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                _ = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], use_cache=False).logits
        sync()

    def bare_nll() -> None:  # the bare loop plus cstool's per-token NLL: what the scoring itself costs
        with torch.inference_mode():
            sums = [batch_nll(model, ids, mask) for ids, mask in batches]
            torch.cat(sums).tolist()

    def host() -> None:  # what score_lm does besides the model: tokenise, plan, pad, copy to the device
        for wins, _ in lm_batches(
            tok, texts, batch_size=args.batch_size, max_tokens=args.max_tokens, max_len=context_length(model)
        ):
            pad_batch([w.ids for w in wins], args.device)
        sync()

    result = {}

    def cstool() -> None:
        result["score"] = score_lm(model, tok, texts, batch_size=args.batch_size, max_tokens=args.max_tokens)
        sync()

    bare(), bare_nll(), cstool(), host()  # warm-up
    best = {"bare": float("inf"), "bare_nll": float("inf"), "cstool": float("inf"), "host": float("inf")}
    for _ in range(args.repeats):
        for name, fn in (("bare", bare), ("bare_nll", bare_nll), ("cstool", cstool), ("host", host)):
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    score = result["score"]
    assert sum(score.tokens) == n_tokens
    tps = {k: n_tokens / v for k, v in best.items()}
    print(f"bare forward loop : {best['bare']:.3f} s  {tps['bare']:,.0f} tokens/s")
    print(
        f"bare loop + NLL   : {best['bare_nll']:.3f} s  {tps['bare_nll']:,.0f} tokens/s  (pre-tokenised, same NLL code)"
    )
    print(
        f"cstool score_lm   : {best['cstool']:.3f} s  {tps['cstool']:,.0f} tokens/s  "
        f"(ppl {score.ppl:.1f}, bpb {score.bpb:.3f}, padding {100 * score.padding:.1f} %)"
    )
    print(
        f"host side alone   : {best['host']:.3f} s  {tps['host']:,.0f} tokens/s  (tokenise, plan, pad, copy; no model)"
    )
    print(f"ratio cstool / bare throughput: {tps['cstool'] / tps['bare']:.3f}  (target ≥ 0.9)")
    print(
        f"host time / bare loop time:    {best['host'] / best['bare']:.3f}  (on a GPU the host work overlaps the "
        "forward passes only when this is well below 1)"
    )


if __name__ == "__main__":
    main()
