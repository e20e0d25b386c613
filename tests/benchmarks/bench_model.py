"""rawllm.model against transformers on the CPU: a training step, and greedy decoding with and without the cache.

    python tests/benchmarks/bench_model.py [--repeat 3] [--new-tokens 256]

The same Llama-architecture model (width 256, 4 layers, 8 heads, 2 key/value heads, vocabulary 4096) is built
by transformers, saved, and loaded by `Transformer.from_pretrained`, so both hold the same weights; logits and
generated tokens are checked equal before anything is timed. Printed, each figure the best of `--repeat` runs
in this one process, the contenders run in turns:

* one training step (forward, cross-entropy, backward) on a batch of 8 x 256 tokens: ours over transformers'
  (both with PyTorch's fused attention, `sdpa`, transformers' default), without a mask (plain causal attention)
  and on a right-padded batch with its `attention_mask` (rows of 64 to 256 real tokens, loss on real tokens);
* greedy decoding of `--new-tokens` tokens after a 32-token prompt, batch 1: our `greedy_decode` with its
  KV cache over `model.generate(do_sample=False)` with transformers' cache;
* our decoding without the cache (recomputing every position at every step) over with it.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))

from timing import best_times  # noqa: E402

from rawllm.model import Transformer, greedy_decode  # noqa: E402



def training_step(model, ids, logits_of, attention_mask=None):
    targets = ids[:, 1:] if attention_mask is None else ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
    kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}

    def run():
        model.zero_grad(set_to_none=True)
        logits = logits_of(model(ids, **kwargs))
        F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten()).backward()
    return run


def build_pair(folder: str):
    from transformers import AutoModelForCausalLM, LlamaConfig
    config = LlamaConfig(vocab_size=4096, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=None, eos_token_id=None, pad_token_id=None)
    theirs = AutoModelForCausalLM.from_config(config)
    theirs.save_pretrained(folder)
    return Transformer.from_pretrained(folder), theirs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the fastest counts")
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens to generate greedily")
    args = parser.parse_args(argv)
    import transformers
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads "
          f"on {os.cpu_count()} CPU cores; best of {args.repeat}\n")
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = build_pair(folder)
    print(f"model: {ours.num_parameters():,} parameters, attention ours={ours.config.attn_implementation}, "
          f"transformers={theirs.config._attn_implementation}")

    ids = torch.randint(0, 4096, (8, 256))
    ours.train(), theirs.train()
    torch.testing.assert_close(ours(ids), theirs(ids).logits, atol=1e-4, rtol=1e-4)
    ours_step, theirs_step = best_times([training_step(ours, ids, lambda out: out),
                                         training_step(theirs, ids, lambda out: out.logits)], args.repeat)
    print(f"training step, batch 8 x 256      ours {ours_step * 1e3:8.1f} ms   transformers {theirs_step * 1e3:8.1f} ms"
          f"   ratio {ours_step / theirs_step:.2f}")
    lengths = torch.linspace(64, 256, 8).long()
    mask = (torch.arange(256) < lengths[:, None]).long()                     # right padding
    real = mask.bool()
    torch.testing.assert_close(ours(ids, attention_mask=mask)[real], theirs(ids, attention_mask=mask).logits[real],
                               atol=1e-4, rtol=1e-4)
    ours_step, theirs_step = best_times([training_step(ours, ids, lambda out: out, mask),
                                         training_step(theirs, ids, lambda out: out.logits, mask)], args.repeat)
    print(f"padded training step, 8 x 256     ours {ours_step * 1e3:8.1f} ms   transformers {theirs_step * 1e3:8.1f} ms"
          f"   ratio {ours_step / theirs_step:.2f}")

    ours.eval(), theirs.eval()
    prompt = torch.randint(0, 4096, (1, 32))
    n = args.new_tokens
    expected = theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, do_sample=False,
                               pad_token_id=0)
    assert torch.equal(greedy_decode(ours, prompt, n), expected), "greedy tokens differ from transformers'"
    cached, generate, uncached = best_times([
        lambda: greedy_decode(ours, prompt, n),
        lambda: theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, do_sample=False,
                                pad_token_id=0),
        lambda: greedy_decode(ours, prompt, n, use_cache=False)], args.repeat)
    print(f"greedy, {n} new tokens, cached     ours {cached * 1e3:8.1f} ms   generate     {generate * 1e3:8.1f} ms"
          f"   ratio {cached / generate:.2f}")
    print(f"greedy, {n} new tokens, uncached   ours {uncached * 1e3:8.1f} ms   (cached over uncached: "
          f"{cached / uncached:.2f}, the cache is {uncached / cached:.1f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
