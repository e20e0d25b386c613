"""rawllm.lora and rawllm.quant against PEFT and bitsandbytes on the CPU.

    python tests/benchmarks/bench_lora.py [--repeat 5]

* A LoRA training step (forward, cross-entropy, backward, AdamW step on the adapters): our model with `add_lora`
  against PEFT's `get_peft_model` on the transformers twin (a Llama of width 256, 4 layers, vocabulary 4096, the
  same weights and the same adapters: r = 8 on every linear layer), batch 8 x 256. Logits are checked equal
  first. Printed: ours over PEFT's.
* `quantize_nf4` / `dequantize_nf4` against bitsandbytes' `quantize_4bit` / `dequantize_4bit` (its CPU
  kernels), on a 4096 x 4096 float32 weight, blocks of 64, with double quantization. Printed: ours over theirs.

Each figure is the best of `--repeat` runs in this one process, the contenders in turns.
"""
import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))

from bench_model import build_pair  # noqa: E402
from timing import best_times  # noqa: E402

from rawllm.lora import add_lora, lora_layers  # noqa: E402
from rawllm.quant import dequantize_nf4, quantize_nf4  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def step(model, ids, logits_of):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def run():
        optimizer.zero_grad(set_to_none=True)
        logits = logits_of(model(ids))
        F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten()).backward()
        optimizer.step()
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the fastest counts")
    args = parser.parse_args(argv)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    import bitsandbytes.functional as bnb
    import peft
    import transformers
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, peft {peft.__version__}, {torch.get_num_threads()} threads on "
          f"{os.cpu_count()} CPU cores; best of {args.repeat}\n")
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = build_pair(folder)
    add_lora(ours, TARGETS, r=8, alpha=16)
    theirs = peft.get_peft_model(theirs, peft.LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            layer.lora_B.weight.normal_(0, 0.02)
            peft_layer = theirs.base_model.model.get_submodule(name)
            peft_layer.lora_A["default"].weight.copy_(layer.lora_A.weight)
            peft_layer.lora_B["default"].weight.copy_(layer.lora_B.weight)
    ids = torch.randint(0, 4096, (8, 256))
    ours.train(), theirs.train()
    torch.testing.assert_close(ours(ids), theirs(ids).logits, atol=1e-4, rtol=1e-4)
    mine, peft_step = best_times([step(ours, ids, lambda out: out), step(theirs, ids, lambda out: out.logits)],
                                 args.repeat)
    print(f"LoRA training step, r=8 on every linear layer, 8 x 256   ours {mine * 1e3:8.1f} ms   "
          f"PEFT {peft_step * 1e3:8.1f} ms   ratio {mine / peft_step:.2f}")

    weight = torch.randn(4096, 4096) * 0.02
    packed, state = bnb.quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=True)
    assert torch.equal(quantize_nf4(weight).packed, packed.view(-1))
    q = quantize_nf4(weight)
    quantize, their_quantize, dequantize, their_dequantize = best_times([
        lambda: quantize_nf4(weight),
        lambda: bnb.quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=True),
        lambda: dequantize_nf4(q),
        lambda: bnb.dequantize_4bit(packed, state)], args.repeat)
    print(f"quantize_nf4, 4096 x 4096, double quantization          ours {quantize * 1e3:8.1f} ms   "
          f"bitsandbytes {their_quantize * 1e3:8.1f} ms   ratio {quantize / their_quantize:.2f}")
    print(f"dequantize_nf4, 4096 x 4096                              ours {dequantize * 1e3:8.1f} ms   "
          f"bitsandbytes {their_dequantize * 1e3:8.1f} ms   ratio {dequantize / their_dequantize:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
