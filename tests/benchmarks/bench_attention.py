"""rawllm.attention against PyTorch's fused attention, and decoding with and without the KV cache, on the CPU.

    python tests/benchmarks/bench_attention.py [--repeat 5] [--lengths 256 512 1024]

Prints, each figure the best of `--repeat` runs, measured side by side in one process:

* forward + backward of a causal `MultiHeadAttention` layer (batch 4, width 512, 8 heads of 64) with our
  attention core (`attn_implementation="eager"`) and with `F.scaled_dot_product_attention`
  (`"sdpa"`), same weights, outputs checked equal; and the bare attention cores on (4, 8, L, 64);
* one decode step of that layer (batch 1) at 256 and 1024 cached tokens: with the KV cache (one new
  token) against recomputing the layer over the whole context.
"""
import argparse
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))

from timing import best_times  # noqa: E402

from rawllm.attention import MultiHeadAttention, scaled_dot_product_attention  # noqa: E402



def best_time(fn, repeat: int) -> float:
    return best_times([fn], repeat)[0]


def layer_forward_backward(layer, x):
    def run():
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the fastest counts")
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024], help="sequence lengths to train on")
    parser.add_argument("--cached", type=int, nargs="+", default=[256, 1024], help="cached tokens for the decode step")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads on {os.cpu_count()} CPU cores; "
          f"best of {args.repeat}\n")

    eager = MultiHeadAttention(512, 8)
    sdpa = MultiHeadAttention(512, 8, attn_implementation="sdpa")
    sdpa.load_state_dict(eager.state_dict())
    print("forward + backward, causal, batch 4        ours (eager)   F.sdpa     ratio   | attention core only: ratio")
    for L in args.lengths:
        x = torch.randn(4, L, 512)
        torch.testing.assert_close(eager(x), sdpa(x), atol=1e-5, rtol=1e-5)
        ours, ref = (best_time(layer_forward_backward(m, x), args.repeat) for m in (eager, sdpa))
        q, k, v = (torch.randn(4, 8, L, 64, requires_grad=True) for _ in range(3))
        core_ours = best_time(lambda: scaled_dot_product_attention(q, k, v, causal=True).sum().backward(), args.repeat)
        core_ref = best_time(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward(), args.repeat)
        print(f"  layer, L = {L:5d}                        {ours * 1e3:9.1f} ms {ref * 1e3:9.1f} ms  {ours / ref:5.2f}x"
              f"  |  {core_ours * 1e3:.1f} vs {core_ref * 1e3:.1f} ms, {core_ours / core_ref:.2f}x")

    print("\ndecode one token, batch 1, width 512        with cache   recompute   speed-up")
    layer = MultiHeadAttention(512, 8).eval()
    with torch.no_grad():
        for n in args.cached:
            x = torch.randn(1, n + 1, 512)
            cache = layer.new_cache(1, n + 1)
            prefill = layer(x[:, :n], cache=cache)
            torch.testing.assert_close(prefill, layer(x[:, :n]), atol=1e-5, rtol=1e-5)

            def step():
                cache.pos = n                                # rewind, so every run writes the same slot
                return layer(x[:, n:], cache=cache)
            torch.testing.assert_close(step(), layer(x)[:, n:], atol=1e-5, rtol=1e-5)
            cached, full = best_time(step, args.repeat), best_time(lambda: layer(x), args.repeat)
            print(f"  {n:5d} cached tokens                   {cached * 1e3:9.2f} ms {full * 1e3:9.2f} ms  {full / cached:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
