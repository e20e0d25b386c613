# Generated from notebooks/*.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.
"""RawLLM: a language model from raw torch ops, built in the notebooks.

Each module comes from one notebook:

    rawllm.attention    notebooks/02_attention.ipynb
    rawllm.core         notebooks/00_raw_ops.ipynb
    rawllm.dpo          notebooks/10_preference_tuning.ipynb
    rawllm.generate     notebooks/07_generation.ipynb
    rawllm.grpo         notebooks/11_reinforcement_learning.ipynb
    rawllm.lifecycle    notebooks/12_lifecycle.ipynb
    rawllm.lora         notebooks/09_lora_and_qlora.ipynb
    rawllm.model        notebooks/04_transformer.ipynb
    rawllm.moe          notebooks/05_mixture_of_experts.ipynb
    rawllm.quant        notebooks/09_lora_and_qlora.ipynb
    rawllm.rope         notebooks/03_positions.ipynb
    rawllm.sft          notebooks/08_supervised_fine_tuning.ipynb
    rawllm.tokenizer    notebooks/01_tokenizer.ipynb
    rawllm.train        notebooks/06_pretraining.ipynb
    rawllm.world        notebooks/00_raw_ops.ipynb
"""
