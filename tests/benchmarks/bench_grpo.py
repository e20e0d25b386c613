"""One GRPO step of rawllm.grpo against TRL's GRPOTrainer on the CPU: rollouts and the update.

    python tests/benchmarks/bench_grpo.py [--repeat 3]

The step: 4 prompts of 128 tokens, 8 samples each (32 rows), 32 new tokens per sample (no early stop on either
side: ours runs with stop_id=None, TRL's generate with min_new_tokens), a reward, group advantages, the per-token
log-probs of the 32 completions, the `grpo` loss, backward, an SGD step. Ours: `rollout`, `per_token_logps`,
`group_advantages`, `grpo_loss` on our Transformer (a Llama of width 256, 4 layers, vocabulary 4096); theirs:
`GRPOTrainer._generate_and_score_completions` and `_compute_loss` on its transformers twin with the same weights.
Printed: ours over TRL's, the best of `--repeat` runs in this one process, the contenders in turns.
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

from rawllm.grpo import group_advantages, grpo_loss, per_token_logps, rollout  # noqa: E402

PROMPTS, GROUP, PROMPT_LEN, NEW = 4, 8, 128, 32


def reward(completions, **kwargs):
    return [float(len(c) % 3) for c in completions]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    args = parser.parse_args(argv)
    import transformers
    import trl
    from datasets import Dataset
    from test_dpo import word_tokenizer
    from trl import GRPOConfig, GRPOTrainer
    transformers.logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
          f"{torch.get_num_threads()} threads on {os.cpu_count()} CPU cores; best of {args.repeat}\n")
    g = torch.Generator().manual_seed(0)
    prompts = [" ".join(f"w{i}" for i in torch.randint(0, 94, (PROMPT_LEN,), generator=g).tolist()) for _ in range(PROMPTS)]
    tokenizer = word_tokenizer()
    with tempfile.TemporaryDirectory() as folder:
        ours_model, hf_model = build_pair(folder)
        config = GRPOConfig(output_dir=str(Path(folder) / "out"), report_to="none", use_cpu=True, bf16=False,
                            per_device_train_batch_size=PROMPTS * GROUP, num_generations=GROUP,
                            max_completion_length=NEW, generation_kwargs={"min_new_tokens": NEW}, save_strategy="no",
                            disable_tqdm=True, loss_type="grpo", gradient_checkpointing=False)
        trainer = GRPOTrainer(model=hf_model, reward_funcs=reward, args=config, processing_class=tokenizer,
                              train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]))
    trainer.current_gradient_accumulation_steps = 1
    inputs = [{"prompt": p} for p in prompts for _ in range(GROUP)]
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    ours_sgd = torch.optim.SGD(ours_model.parameters(), lr=0.0)    # lr 0: every repeat times the same weights
    theirs_sgd = torch.optim.SGD(hf_model.parameters(), lr=0.0)
    shapes = {}

    def ours():
        ours_model.eval()
        roll = rollout(ours_model, prompt_ids, GROUP, NEW, None, tokenizer.pad_token_id)
        texts = [tokenizer.decode(row) for row in roll["completion_ids"].tolist()]
        advantages = group_advantages(torch.tensor(reward(texts)), GROUP)
        ours_model.train()
        logps = per_token_logps(ours_model, roll["prompt_ids"], roll["prompt_mask"], roll["completion_ids"],
                                roll["completion_mask"])
        grpo_loss(logps, None, None, advantages, roll["completion_mask"]).backward()
        ours_sgd.step()
        ours_sgd.zero_grad(set_to_none=True)
        shapes["ours"] = tuple(roll["completion_ids"].shape)

    def theirs():
        hf_model.train()
        batch = trainer._generate_and_score_completions(inputs)
        trainer._compute_loss(hf_model, batch).backward()
        theirs_sgd.step()
        theirs_sgd.zero_grad(set_to_none=True)
        shapes["theirs"] = tuple(batch["completion_ids"].shape)

    t_ours, t_theirs = best_times([ours, theirs], args.repeat)
    assert shapes["ours"] == shapes["theirs"] == (PROMPTS * GROUP, NEW), shapes
    print(f"GRPO step ({PROMPTS} prompts x {GROUP} samples x {NEW} new tokens, prompts of {PROMPT_LEN}): ours "
          f"{t_ours:.2f} s, GRPOTrainer {t_theirs:.2f} s, ours / TRL = {t_ours / t_theirs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
