"""rawllm.moe's MoE layer against transformers' sparse MoE blocks on the CPU: forward + backward.

    python tests/benchmarks/bench_moe.py [--repeat 5] [--tokens 2048]

For each family (Mixtral: 8 experts, top-2; Qwen3-MoE: 32 narrow experts, top-4; DeepSeek-V3: 16 experts in 4
groups, top-4, a shared expert), transformers builds a tiny model with `from_config` (so its blocks use the expert
implementation transformers picks by default on this machine), saves it, and `Transformer.from_pretrained` loads
it: both MoE layers of block 1 then hold the same weights. Outputs and gradients of the input are checked equal
before anything is timed. Printed, each the best of `--repeat` runs in this one process, run in turns:

* our sorted dispatch over our readable loop;
* our sorted dispatch over transformers' block (target: at most 1.0).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))

from timing import best_times  # noqa: E402

import rawllm.moe  # noqa: E402,F401  (registers the MoE families with Transformer.from_pretrained)
from rawllm.model import Transformer  # noqa: E402

WIDTH = 256


def family_configs():
    from transformers import DeepseekV3Config, MixtralConfig, Qwen3MoeConfig
    common = dict(vocab_size=256, hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=256)
    return {
        "mixtral (E=8, k=2, d_ff=512)": MixtralConfig(**common, intermediate_size=512, num_local_experts=8,
                                                      num_experts_per_tok=2),
        "qwen3_moe (E=32, k=4, d_ff=128)": Qwen3MoeConfig(**common, intermediate_size=512, moe_intermediate_size=128,
                                                          num_experts=32, num_experts_per_tok=4, head_dim=64,
                                                          norm_topk_prob=True),
        "deepseek_v3 (E=16 in 4 groups, k=4, shared)": DeepseekV3Config(
            **common, intermediate_size=512, moe_intermediate_size=128, n_routed_experts=16, num_experts_per_tok=4,
            n_group=4, topk_group=2, n_shared_experts=1, first_k_dense_replace=0, kv_lora_rank=64, q_lora_rank=None,
            qk_rope_head_dim=16, qk_nope_head_dim=32, v_head_dim=32),
    }



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=2048)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; MoE layer forward + backward on "
          f"{args.tokens} tokens of width {WIDTH}, float32")
    for name, config in family_configs().items():
        reference = AutoModelForCausalLM.from_config(config).eval()
        with torch.no_grad():
            for param in reference.parameters():
                param.normal_(0.0, 0.05)
        with tempfile.TemporaryDirectory() as folder:
            reference.save_pretrained(folder)
            ours = Transformer.from_pretrained(folder)
        hf_block, our_moe = reference.model.layers[1].mlp, ours.model.layers[1].mlp
        x = torch.randn(1, args.tokens, WIDTH)

        def step(block, dispatch=None):
            if dispatch:
                block.dispatch = dispatch
            inputs = x.clone().requires_grad_()
            out = block(inputs)
            out = out[0] if isinstance(out, tuple) else out
            out.pow(2).mean().backward()
            return out.detach(), inputs.grad

        expected = step(hf_block)
        for dispatch in ("loop", "sorted"):
            for got, want in zip(step(our_moe, dispatch), expected):
                torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        loop, fast, theirs = best_times([lambda: step(our_moe, "loop"), lambda: step(our_moe, "sorted"),
                                         lambda: step(hf_block)], args.repeat)
        implementation = reference.config._experts_implementation
        print(f"{name}: sorted {fast * 1e3:.1f} ms, loop {loop * 1e3:.1f} ms, transformers ({implementation}) "
              f"{theirs * 1e3:.1f} ms")
        print(f"    sorted / loop {fast / loop:.2f}; sorted / transformers {fast / theirs:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
