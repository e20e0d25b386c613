"""rawllm.generate on the CPU: decoding with and without the KV cache, against transformers; speculative decoding.

    python tests/benchmarks/bench_generate.py [--repeat 3] [--new-tokens 32] [--contexts 128 512 1024] [--threads 1]

A Llama-architecture model (width 256, 4 layers, 8 heads, 2 key/value heads, vocabulary 4096) is built by
transformers, saved, and loaded by `Transformer.from_pretrained`, so both hold the same weights; the greedy tokens
are checked equal before anything is timed. Printed, each figure the best of `--repeat` runs in this one process,
the contenders run in turns, on `--threads` CPU threads (default 1: batch-1 decoding of a small model runs kernels
too short to share between threads, as notebook 07 explains):

* for a prompt of each `--contexts` length, tokens per second of `generate` (greedy, `--new-tokens` new tokens,
  prefill included) with the KV cache, without it (every step recomputes the whole context), and of
  transformers' `generate` with its cache; the ratios cached / uncached and ours / transformers';
* speculative decoding: the base model of notebook 06 (or the small one notebook 07 trains when 06 has not run) as
  the target and the draft notebook 07 trains, read from the cache folder (RAWLLM_CACHE; run the notebooks
  first). Without them, the target is the random model
  above and the draft its own first block with the same head (self-speculative, an early exit), which shows the
  mechanics but not a trained pair's acceptance. Printed: acceptance rate, tokens per target pass, and the
  speedup over `generate` on the target alone, greedy and sampled (temperature 1), for k = 2, 4 and 6.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))

from timing import best_times  # noqa: E402

from rawllm.generate import generate, speculative_generate  # noqa: E402
from rawllm.model import Transformer  # noqa: E402


def build_pair(folder: str, max_len: int):
    from transformers import AutoModelForCausalLM, LlamaConfig
    config = LlamaConfig(vocab_size=4096, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=max_len,
                         bos_token_id=None, eos_token_id=None, pad_token_id=None)
    theirs = AutoModelForCausalLM.from_config(config).eval()
    theirs.save_pretrained(folder)
    return Transformer.from_pretrained(folder), theirs


def first_block_draft(target: Transformer) -> Transformer:
    """The target truncated to its first block (sharing its weights): a draft that costs a fraction of a pass."""
    draft = Transformer.__new__(Transformer)
    nn.Module.__init__(draft)
    draft.config = target.config.__class__(**{**target.config.__dict__, "n_layers": 1, "layer_types": None})
    draft.model = nn.Module()
    draft.model.embed_tokens, draft.model.norm = target.model.embed_tokens, target.model.norm
    draft.model.layers = nn.ModuleList(target.model.layers[:1])
    draft.lm_head, draft.gradient_checkpointing, draft._inv_freq = target.lm_head, False, {}
    return draft.eval()


def trained_pair():
    """(target, draft, description) from the cache folder: notebook 06's base model (or, when 06 has not run, the
    small one notebook 07 trained instead) and notebook 07's draft; None when there are none."""
    from rawllm.core import CACHE_DIR
    from rawllm.train import load_base_model
    try:
        target, _ = load_base_model()
        name = "notebook 06's base model"
    except FileNotFoundError:
        fallbacks = sorted(CACHE_DIR.glob("small-base-model-*"))
        if not fallbacks:
            return None
        target, _ = load_base_model(path=fallbacks[-1])
        name = f"notebook 07's {fallbacks[-1].name}"
    steps = lambda folder: int(folder.name.rsplit("-", 1)[1])
    for folder in sorted(CACHE_DIR.glob("draft-model-*"), key=steps, reverse=True):     # the longest-trained first
        draft, _ = load_base_model(path=folder)
        if draft.config.max_seq_len == target.config.max_seq_len:
            return target, draft, f"{name}, draft {folder.name}"
    return None


def decoding(args, ours, theirs) -> None:
    n = args.new_tokens
    print(f"greedy decoding of {n} new tokens after a prompt (batch 1), prefill included; tokens per second")
    for context in args.contexts:
        prompt = torch.randint(0, 4096, (1, context))
        expected = theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n, do_sample=False,
                                   pad_token_id=0)[:, context:]
        assert torch.equal(generate(ours, prompt, n, greedy=True), expected), "greedy tokens differ from transformers'"
        cached, uncached, reference = best_times([
            lambda: generate(ours, prompt, n, greedy=True),
            lambda: generate(ours, prompt, n, greedy=True, use_cache=False),
            lambda: theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n,
                                    do_sample=False, pad_token_id=0)], args.repeat)
        print(f"  context {context:5d}: cached {n / cached:7.1f}   uncached {n / uncached:7.1f}   transformers "
              f"{n / reference:7.1f}   cached/uncached {uncached / cached:5.1f}x   ours/transformers "
              f"{reference / cached:.2f}")


def speculative(args, target, draft, description) -> None:
    prompt = torch.tensor([[1, 2, 3, 4]]) % target.config.vocab_size
    n = min(4 * args.new_tokens, target.config.max_seq_len - prompt.shape[1])
    print(f"\nspeculative decoding, {n} new tokens: {description}")
    print(f"  target {target.num_parameters():,} parameters, draft {draft.num_parameters():,}")
    for greedy in (True, False):
        seed = lambda: torch.Generator().manual_seed(0)
        for k in (2, 4, 6):
            run = lambda: speculative_generate(target, draft, prompt, n, k=k, greedy=greedy, generator=seed(),
                                               return_stats=True)
            alone, spec = best_times([lambda: generate(target, prompt, n, greedy=greedy, generator=seed()), run],
                                     args.repeat)
            new, stats = run()
            if greedy:
                assert torch.equal(new, generate(target, prompt, n, greedy=True)), "speculative greedy differs"
            print(f"  {'greedy' if greedy else 'sampled'} k={k}: acceptance {stats['acceptance_rate']:.2f}, "
                  f"{stats['tokens_per_target_forward']:.2f} tokens per target pass, {spec * 1e3:7.1f} ms vs "
                  f"{alone * 1e3:7.1f} ms alone: speedup {alone / spec:.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens to generate per decoding measurement")
    parser.add_argument("--contexts", type=int, nargs="+", default=[128, 512, 1024], help="prompt lengths")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads "
          f"on {os.cpu_count()} CPU cores; best of {args.repeat}\n")
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = build_pair(folder, max(args.contexts) + 4 * args.new_tokens)
    print(f"model: {ours.num_parameters():,} parameters\n")
    with torch.no_grad():
        decoding(args, ours, theirs)
    pair = trained_pair()
    if pair is None:
        pair = ours, first_block_draft(ours), "no trained pair in the cache folder (run notebooks 06 and 07): " \
                                              "the random model above, draft = its first block"
    speculative(args, *pair)
    return 0


if __name__ == "__main__":
    sys.exit(main())
