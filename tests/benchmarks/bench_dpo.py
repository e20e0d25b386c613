"""A DPO training step of rawllm.dpo against TRL's DPOTrainer on the CPU.

    python tests/benchmarks/bench_dpo.py [--repeat 5]

The step: the policy's and the reference's summed log-probs of 8 pairs (16 rows, right padded, prompts of about 200
tokens, answers of 10 to 30), the sigmoid loss, backward, an SGD step. Ours: `preference_loss` on our Transformer
(a Llama of width 256, 4 layers, vocabulary 4096) with a reference copy; theirs: `DPOTrainer.compute_loss` on the
transformers twins of the same two models and the same collated batch (checked equal first). Printed: ours over
TRL's, the best of `--repeat` runs in this one process, the contenders in turns.
"""
import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "notebooks"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_model import build_pair  # noqa: E402
from timing import best_times  # noqa: E402

from rawllm.dpo import PreferenceConfig, preference_loss  # noqa: E402
from rawllm.model import Transformer  # noqa: E402


def rows(n: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    words = lambda k: " ".join(f"w{i}" for i in torch.randint(0, 94, (k,), generator=g).tolist())
    return [{"prompt": words(int(torch.randint(180, 220, (1,), generator=g))),
             "chosen": " " + words(int(torch.randint(10, 30, (1,), generator=g))),
             "rejected": " " + words(int(torch.randint(10, 30, (1,), generator=g)))} for _ in range(n)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the fastest counts")
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args(argv)
    import transformers
    import trl
    from datasets import Dataset
    from test_dpo import word_tokenizer
    from trl import DPOConfig, DPOTrainer
    transformers.logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
          f"{torch.get_num_threads()} threads on {os.cpu_count()} CPU cores; best of {args.repeat}\n")
    with tempfile.TemporaryDirectory() as folder:
        policy, hf_policy = build_pair(folder)
        reference, hf_reference = Transformer.from_pretrained(folder), type(hf_policy).from_pretrained(folder)
        config = DPOConfig(output_dir=str(Path(folder) / "out"), report_to="none", use_cpu=True, bf16=False,
                           per_device_train_batch_size=args.pairs, beta=0.1, save_strategy="no", disable_tqdm=True,
                           max_length=None, gradient_checkpointing=False)
        trainer = DPOTrainer(model=hf_policy, ref_model=hf_reference, args=config, processing_class=word_tokenizer(),
                             train_dataset=Dataset.from_list(rows(args.pairs)))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(args.pairs)])
    ours_batch = {k: batch[k] for k in ("input_ids", "attention_mask", "completion_mask")}
    ours_config = PreferenceConfig(beta=0.1)
    policy.train(), hf_policy.train()
    ours_sgd = torch.optim.SGD(policy.parameters(), lr=0.0)         # lr 0: every repeat times the same weights
    theirs_sgd = torch.optim.SGD(hf_policy.parameters(), lr=0.0)
    loss_ours = preference_loss(policy, reference, ours_batch, ours_config)[0].item()
    loss_theirs = trainer.compute_loss(hf_policy, batch).item()
    print(f"batch {tuple(batch['input_ids'].shape)}; loss ours {loss_ours:.6f}, TRL {loss_theirs:.6f}")
    assert abs(loss_ours - loss_theirs) < 1e-5, "the two steps compute different losses"

    def ours():
        preference_loss(policy, reference, ours_batch, ours_config)[0].backward()
        ours_sgd.step()
        ours_sgd.zero_grad(set_to_none=True)

    def theirs():
        trainer.compute_loss(hf_policy, batch).backward()
        theirs_sgd.step()
        theirs_sgd.zero_grad(set_to_none=True)

    t_ours, t_theirs = best_times([ours, theirs], args.repeat)
    print(f"DPO step (policy forward + backward, reference forward, SGD): ours {t_ours * 1e3:.1f} ms, "
          f"DPOTrainer {t_theirs * 1e3:.1f} ms, ours / TRL = {t_ours / t_theirs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
