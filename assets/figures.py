"""Drawn figures of the series: their sources, and the command that redraws them and embeds them in the notebooks.

    python assets/figures.py                     draw every figure to assets/<name>.png and embed it in its notebook
    python assets/figures.py --notebook 03_...   the same for the figures one notebook shows
    python assets/figures.py --check             exit 1 if a notebook's embedded copy differs from assets/<name>.png

A figure is embedded as an attachment of the markdown cell that shows it (`![...](attachment:<name>.png)`), so it
renders in Jupyter, JupyterLab, Colab and on GitHub without fetching a file from the repository.

The shapes and the palette live in `drawing.py` (one visual language, described there); each of notebooks 00-07
keeps its figures in `figures_<NN>.py`, notebooks 08-12 below.
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parent
sys.path.insert(0, str(ASSETS))
NOTEBOOKS = ASSETS.parent / "notebooks"

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: E402,F401


def padded_batch_mask():
    """Notebook 04: a left-padded batch, its attention_mask and position_ids, and the (T, T) mask of one row;
    a packed row of two documents and its block-diagonal causal mask."""
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 4.8), gridspec_kw={"width_ratios": [1.25, 1, 1]})
    rows = [["Mia", "found", "a", "red", "shell", "."], ["Tom", "ran", "home", "."], ["The", "dog", "slept", "."]]
    width = 6
    ax = axes[0]
    for b, words in enumerate(rows):
        n_pad = width - len(words)
        y = 3 - b * 1.9
        for t in range(width):
            real = t >= n_pad
            cell(ax, t, y, BLUE if real else GREY, words[t - n_pad] if real else "pad", "white" if real else INK,
                 fontsize=8)
            ax.text(t, y - 0.72, f"{int(real)}   {max(t - n_pad, 0)}", ha="center", va="center", fontsize=7.5,
                    color=INK)
        ax.text(-0.75, y, f"row {b}", ha="right", va="center", fontsize=9)
    ax.text(2.5, 4.25, "input_ids (batch 3, seq 6), padded on the left", ha="center", fontsize=10, weight="bold")
    ax.text(2.5, -2.05, "under each token: attention_mask (3, 6), position_ids (3, 6)", ha="center", fontsize=8.5,
            color=INK)
    ax.set_xlim(-2.2, 6), ax.set_ylim(-2.4, 4.6)

    ax = axes[1]
    n_pad, labels = 2, ["pad", "pad", "Tom", "ran", "home", "."]
    colours = [[ORANGE if i == j and i < n_pad else BLUE if (j <= i and j >= n_pad) else "white"
                for j in range(width)] for i in range(width)]
    mask_grid(ax, colours, 0, 3.5, labels)
    for j in range(n_pad):
        ax.add_patch(plt.Rectangle((j - 0.5, -2.0), 1, 6.0, facecolor=GREY, alpha=0.35, edgecolor="none"))
    ax.text(2.5, 5.35, "row 1 of the mask (3, 1, 6, 6): what each query sees", ha="center", fontsize=10, weight="bold")
    ax.text(2.5, -2.55, "causal  AND  key is a real token\n(a pad query keeps itself: no empty softmax row)",
            ha="center", va="top", fontsize=8.5, color=INK)
    ax.text(-1.6, 1, "query", rotation=90, ha="center", va="center", fontsize=9)
    ax.set_xlim(-2.2, 6), ax.set_ylim(-3.6, 6.0)

    ax = axes[2]
    docs = [0, 0, 0, 1, 1, 1]
    positions = [0, 1, 2, 0, 1, 2]
    labels = ["Mia", "sang", ".", "Tom", "ran", "."]
    colours = [[(BLUE if docs[i] == 0 else DOC2) if (j <= i and docs[i] == docs[j]) else "white"
                for j in range(width)] for i in range(width)]
    mask_grid(ax, colours, 0, 3.5, labels)
    ax.text(2.5, 5.35, "a packed row: two documents", ha="center", fontsize=10, weight="bold")
    ax.text(2.5, -2.55, f"position_ids {positions}\nrestart at 0: a new document, so no token\nattends across "
            "the boundary", ha="center", va="top", fontsize=8.5, color=INK)
    ax.set_xlim(-2.2, 6), ax.set_ylim(-3.6, 6.0)
    return finish(fig, axes)


def chat_template_mask():
    """Notebook 08: one conversation through the chat template, and the mask of the tokens SFT trains on."""
    pieces = [("<|im_start|>", 1.6, "t"), ("user", 0.8, "t"), ("\u23ce", 0.5, "t"),
              ("Story: Tom found a red kite. ...  Question: What colour was the kite?", 7.2, "u"),
              ("<|im_end|>", 1.4, "t"), ("\u23ce", 0.5, "t"), ("<|im_start|>", 1.6, "t"), ("assistant", 1.3, "t"),
              ("\u23ce", 0.5, "t"), ("red", 0.7, "a"), ("<|im_end|>", 1.4, "a"), ("\u23ce", 0.5, "t")]
    colours = {"t": GREY, "u": LIGHT_BLUE, "a": BLUE}
    fig, ax = plt.subplots(figsize=(14.5, 3.0))
    x = 0.0
    for text, width, kind in pieces:
        box(ax, x, 2, width, colours[kind], text, "white" if kind == "a" else INK, fontsize=8)
        box(ax, x, 0.9, width, colours[kind] if kind == "a" else "white", "1" if kind == "a" else "0",
            "white" if kind == "a" else INK, height=0.7)
        box(ax, x, 0, width, "white", "its id" if kind == "a" else "-100", INK, height=0.7)
        x += width
    for y, label in ((2, "text"), (0.9, "assistant_masks"), (0, "labels")):
        ax.text(-0.3, y, label, ha="right", va="center", fontsize=9)
    ax.text(x / 2, 2.85, "read, not learned (grey: the template, light blue: the user)          "
            "learned: the answer and its end-of-turn marker (blue)", ha="center", fontsize=9.5)
    ax.set_xlim(-3.2, x + 0.2), ax.set_ylim(-0.6, 3.2)
    ax.axis("off")
    fig.tight_layout()
    return fig


def padding_vs_packing():
    """Notebook 08: five conversations as padded rows, and packed first-fit into rows of 12 tokens."""
    lengths, names = [6, 9, 4, 7, 3], "ABCDE"
    palette = [BLUE, DOC2, ORANGE, "#8e6bb8", "#c0504d"]
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 4.2), gridspec_kw={"width_ratios": [9, 12]})
    ax = axes[0]
    for r, n in enumerate(lengths):
        for t in range(9):
            real = t < n
            cell(ax, t, 4 - r, palette[r] if real else GREY, names[r] if real else "", fontsize=8)
    ax.set_title("padding: (5, 9), 29 of 45 slots real, attention_mask 0 on grey", fontsize=10)
    ax.set_xlim(-0.6, 8.6), ax.set_ylim(-0.8, 4.6)
    ax = axes[1]
    rows = [[0, 2], [1, 4], [3]]
    for r, row in enumerate(rows):
        t = 0
        for i in row:
            for p in range(lengths[i]):
                cell(ax, t, 3 - 1.3 * r, palette[i], str(p), fontsize=8)
                t += 1
        for p in range(t, 12):
            cell(ax, p, 3 - 1.3 * r, GREY)
    ax.set_title("packing: (3, 12), 29 of 36 slots real; position_ids (the numbers) restart per conversation",
                 fontsize=10)
    ax.set_xlim(-0.6, 11.6), ax.set_ylim(-0.8, 4.6)
    return finish(fig, axes)


def lora_adapter():
    """Notebook 09: a LoRA layer, y = W x + (alpha / r) B A x, with W frozen and only A and B trained."""
    fig, ax = plt.subplots(figsize=(14.5, 4.4))
    matrix(ax, 0, 4, 8, 8, GREY, "W", "(out, in) = (128, 128)\nfrozen: 16,384")
    ax.text(4.6, 2.25, "+", fontsize=22, ha="center", va="center")
    ax.text(5.6, 2.25, "α/r ·", fontsize=14, ha="center", va="center")
    matrix(ax, 6.6, 4, 8, 2, BLUE, "B", "(out, r)\n(128, 8)\nstarts at 0")
    ax.text(7.9, 2.25, "·", fontsize=22, ha="center", va="center")
    matrix(ax, 8.4, 3.0, 2, 8, BLUE, "A", "(r, in) = (8, 128)\nrandom at start")
    ax.text(12.9, 2.25, "=", fontsize=22, ha="center", va="center")
    matrix(ax, 13.6, 4, 8, 8, LIGHT_BLUE, "W + ΔW", "the layer's weight\n(merge: fold ΔW into W)")
    ax.text(9.95, -1.3, "trained: r (in + out) = 2,048 numbers, 12.5% of W", ha="center", fontsize=10, color=BLUE)
    ax.text(0.1, 5.5, "y = W x + (α / r) · B (A x)     x: (batch, seq, in) → A x: (batch, seq, r) → "
            "B A x: (batch, seq, out)", fontsize=10.5, ha="left")
    ax.set_xlim(-0.6, 17.8), ax.set_ylim(-1.7, 6.0)
    return finish(fig, [ax])


def nf4_quantization():
    """Notebook 09: one block of weights through NF4: divide by the block's absmax, snap each value to the nearest
    of 16 levels, keep the level's index (4 bits), pack two indices per byte, the first in the high nibble."""
    sys.path.insert(0, str(NOTEBOOKS))
    from rawllm.quant import NF4, quantize_nf4
    import torch
    values = [0.021, -0.047, 0.003, 0.088, -0.012, 0.035, -0.090, 0.054]
    q = quantize_nf4(torch.tensor(values), blocksize=32, double_quant=False)
    absmax, codes = float(q.absmax[0]), [int(c) for b in q.packed.tolist() for c in (b >> 4, b & 15)]
    fig, ax = plt.subplots(figsize=(14.5, 5.6))
    ax.text(-0.7, 6.0, "a block of weights (64 in NF4; 8 shown)", fontsize=10, weight="bold", va="center", ha="left")
    for i, v in enumerate(values):
        box(ax, 1.6 * i - 0.7, 5.2, 1.5, LIGHT_BLUE, f"{v:+.3f}", INK, fontsize=9)
        box(ax, 1.6 * i - 0.7, 4.2, 1.5, "white", f"{v / absmax:+.2f}", INK, fontsize=9)
    ax.text(12.3, 5.2, f"absmax = {absmax:.3f}: one float per block", fontsize=9.5, va="center")
    ax.text(12.3, 4.2, "÷ absmax: every value in [-1, 1]", fontsize=9.5, va="center")
    left, width = -0.7, 12.6                                          # the number line from -1 to 1
    where = [left + (float(level) + 1) / 2 * width for level in NF4]
    ax.plot([left, left + width], [2.9, 2.9], color=INK, lw=1)
    for k, x in enumerate(where):
        ax.plot([x, x], [2.75, 3.05], color=ORANGE, lw=2)
        ax.text(x, 2.55, str(k), ha="center", va="top", fontsize=8, color=ORANGE)
    for i, v in enumerate(values):
        arrow(ax, 1.6 * i + 0.05, 3.75, where[codes[i]], 3.1, colour=BLUE)
    ax.text(12.3, 2.9, "16 levels: quantiles of N(0, 1),\ndense near 0 where most weights are", fontsize=9.5,
            va="center")
    for i, c in enumerate(codes):
        box(ax, 1.6 * i - 0.7, 1.4, 1.5, BLUE, f"{c} = {c:04b}", fontsize=9)
    for b, byte in enumerate(q.packed.tolist()):
        box(ax, 3.2 * b - 0.7, 0.3, 3.1, ORANGE, f"byte 0x{byte:02X}: {byte >> 4:04b} {byte & 15:04b}", fontsize=9)
    ax.text(12.3, 1.4, "the index of the nearest level:\n4 bits per weight", fontsize=9.5, va="center")
    ax.text(12.3, 0.3, "two per byte, the first in the high nibble\n(bitsandbytes' layout)", fontsize=9.5,
            va="center")
    ax.set_xlim(-0.9, 16.5), ax.set_ylim(-0.3, 6.4)
    return finish(fig, [ax])


def qlora_layer():
    """Notebook 09: what a QLoRA layer stores (4-bit codes, 8-bit block scales, float32 scales of the scales) and
    how its forward pass runs: dequantize into the compute dtype, matmul, add the float32 adapter."""
    fig, ax = plt.subplots(figsize=(14.5, 4.6))
    stored = [("packed codes: uint8 (out · in / 2)", "4 bits per weight", 4.2),
              ("absmax codes: uint8, one per block of 64", "8 / 64 = 0.125 bits", 3.1),
              ("absmax2: float32, one per 256 blocks; offset", "32 / 16384 ≈ 0.002 bits", 2.0)]
    ax.text(0, 5.2, "stored (frozen): NF4 with double quantization", fontsize=10, weight="bold")
    for text, bits, y in stored:
        box(ax, 0, y, 5.2, GREY, text, INK, fontsize=8.5)
        ax.text(5.35, y, bits, fontsize=8.5, va="center")
    ax.text(0, 1.0, "4.127 bits per weight instead of 16 (bf16) or 32", fontsize=9.5, color=INK)
    box(ax, 8.2, 3.1, 2.6, LIGHT_BLUE, "dequantize", INK, fontsize=9)
    arrow(ax, 7.6, 3.1, 8.2, 3.1)
    box(ax, 11.4, 3.1, 2.4, LIGHT_BLUE, "W: bf16 (out, in)", INK, fontsize=8.5)
    arrow(ax, 10.8, 3.1, 11.4, 3.1)
    ax.text(12.6, 2.35, "lives for one matmul", ha="center", fontsize=8, color=INK)
    box(ax, 11.4, 4.6, 2.4, BLUE, "x: (batch, seq, in)", fontsize=8.5)
    box(ax, 14.6, 3.8, 1.4, ORANGE, "W x", fontsize=9)
    arrow(ax, 13.8, 3.1, 14.6, 3.6)
    arrow(ax, 13.8, 4.6, 14.6, 4.0)
    box(ax, 14.6, 1.5, 2.8, BLUE, "s · B (A x): float32", fontsize=8.5)
    ax.text(16.0, 0.85, "trained: A (r, in), B (out, r)", ha="center", fontsize=8.5, color=BLUE)
    arrow(ax, 12.6, 4.15, 14.9, 1.95)
    box(ax, 17.0, 3.8, 0.8, ORANGE, "+", fontsize=12)
    arrow(ax, 16.0, 3.8, 17.0, 3.8)
    arrow(ax, 16.6, 1.95, 17.3, 3.35)
    box(ax, 18.3, 3.8, 1.1, BLUE, "y", fontsize=10)
    arrow(ax, 17.8, 3.8, 18.3, 3.8)
    ax.text(11.4, 5.4, "forward: gradients flow through W x to x, never into the codes", fontsize=9.5)
    ax.set_xlim(-0.2, 19.6), ax.set_ylim(0.5, 5.8)
    ax.axis("off")
    fig.tight_layout()
    return fig


def dpo_flow():
    """Notebook 10: one DPO step. A pair becomes two rows of one batch (chosen, rejected); the policy and the frozen
    reference each give a summed log-prob per row; the loss compares the two log-ratios."""
    fig, ax = plt.subplots(figsize=(14.5, 4.6))
    for y, colour, name in ((3.2, BLUE, "chosen"), (1.2, ORANGE, "rejected")):
        box(ax, 0, y, 5, GREY, "prompt: story + question", text_colour=INK)
        box(ax, 5.2, y, 2.2, colour, name)
        ax.text(-0.5, y, "row", ha="right", va="center", fontsize=8.5)
    ax.text(3.7, 4.25, "a batch of 2n rows (n chosen, then n rejected): (2n, T)", ha="center", fontsize=9.5)
    ax.text(6.3, 0.35, "completion_mask: 1 on the answer only", ha="center", fontsize=8.5, color=INK)
    for y, colour, text in ((3.9, BLUE, "policy π_θ (trained)"), (0.5, GREY, "reference π_ref (frozen,\nor the adapter off)")):
        box(ax, 9.0, y, 3.4, colour, text, text_colour="white" if colour == BLUE else INK, height=1.1)
    arrow(ax, 7.6, 2.2, 8.9, 3.7)
    arrow(ax, 7.6, 2.2, 8.9, 0.7)
    for y, text in ((4.3, "log π_θ(y_w|x)"), (3.5, "log π_θ(y_l|x)"), (0.9, "log π_ref(y_w|x)"), (0.1, "log π_ref(y_l|x)")):
        ax.text(12.7, y, text, fontsize=9, va="center")
    arrow(ax, 15.0, 3.9, 16.0, 2.4)
    arrow(ax, 15.0, 0.5, 16.0, 2.0)
    box(ax, 16.1, 2.2, 4.6, LIGHT_BLUE, "loss = −log σ(β [(θ−ref)_w − (θ−ref)_l])", text_colour=INK, height=1.1,
        fontsize=8.5)
    ax.text(18.4, 3.2, "reward = β · log-ratio,  each (n,)", ha="center", fontsize=8.5)
    ax.set_xlim(-1.5, 21.2), ax.set_ylim(-0.5, 4.8)
    return finish(fig, [ax])


def grpo_group():
    """Notebook 11: one GRPO batch. A task is sampled G times; a verifier scores each answer; each reward minus the
    group's mean, over its std, is the advantage every token of that answer gets."""
    fig, ax = plt.subplots(figsize=(14.5, 5.2))
    box(ax, 0, 2.5, 3.6, GREY, "task: story +\n\"How many shells ...?\"", text_colour=INK, height=1.6, fontsize=8.5)
    answers = [("7", 1), ("5", 0), ("7", 1), ("The story does not say.", 0), ("2", 0)]
    for i, (text, right) in enumerate(answers):
        y = 4.6 - i * 1.05
        arrow(ax, 3.7, 2.5, 4.7, y)
        n = max(1, len(text.split()))
        for k in range(min(n, 4)):
            cell(ax, 5.2 + k, y, BLUE, text.split()[k] if n > 1 else text, fontsize=7)
        cell(ax, 5.2 + min(n, 4), y, ORANGE, "end", fontsize=6.5)
        ax.text(10.6, y, f"r = {right}", ha="center", va="center", fontsize=9.5)
        adv = (right - 0.4) / 0.5477
        box(ax, 11.8, y, 2.4, LIGHT_BLUE if adv > 0 else GREY, f"A = {adv:+.2f}", text_colour=INK, height=0.8,
            fontsize=9)
    ax.text(7.2, 5.55, "G = 5 samples (a group): completion_ids (G, T)", ha="center", fontsize=9.5)
    ax.text(10.6, 5.55, "verifier", ha="center", fontsize=9.5)
    ax.text(13.0, 5.55, "(r - mean) / std", ha="center", fontsize=9.5)
    ax.text(7.2, -0.5, "blue: sampled tokens, orange: the stop token (both masked in)", ha="center", fontsize=8.5)
    ax.text(13.0, -0.5, "mean 0.4, std 0.55 over the group", ha="center", fontsize=8.5)
    ax.set_xlim(-0.5, 14.8), ax.set_ylim(-0.9, 6.0)
    return finish(fig, [ax])


def token_weights():
    """Notebook 11: how each loss type weighs one token of a short and of a long completion (same advantage)."""
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 2.3))
    lengths, limit = (2, 6), 8
    rules = (("grpo: per sequence, then the mean", lambda n: 1 / (len(lengths) * n)),
             ("bnpo / dapo: over all tokens", lambda n: 1 / sum(lengths)),
             ("dr_grpo: over batch x max length", lambda n: 1 / (len(lengths) * limit)))
    for ax, (title, weight) in zip(axes, rules):
        for row, n in enumerate(lengths):
            for t in range(limit):
                real = t < n
                cell(ax, t, -row * 1.2, BLUE if real else GREY, f"{weight(n):.3f}" if real else "",
                     fontsize=6.5)
            ax.text(-0.9, -row * 1.2, f"{n} tokens", ha="right", va="center", fontsize=8.5)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(-3.2, limit), ax.set_ylim(-2.0, 0.8)
    fig.suptitle("the weight of each token's term in the loss (2 completions, max_completion_length 8)", fontsize=10)
    return finish(fig, axes)


def ppo_gae():
    """Notebook 11: PPO for language. The policy's body feeds the vocabulary head and a value head; the reward is
    a KL penalty at every token plus the task's score at the last; GAE turns rewards and values into advantages."""
    fig, ax = plt.subplots(figsize=(14.5, 4.8))
    tokens = ["7", "end"]
    box(ax, 0, 3.6, 3.2, GREY, "prompt", text_colour=INK)
    for k, t in enumerate(tokens):
        cell(ax, 3.7 + k, 3.6, BLUE if k == 0 else ORANGE, t, fontsize=7)
    box(ax, 6.0, 3.6, 3.0, BLUE, "transformer body")
    arrow(ax, 5.1, 3.6, 6.0, 3.6)
    arrow(ax, 9.0, 3.6, 10.0, 4.3)
    arrow(ax, 9.0, 3.6, 10.0, 2.9)
    box(ax, 10.0, 4.3, 3.0, LIGHT_BLUE, "lm_head: log π (B, T)", text_colour=INK, height=0.8)
    box(ax, 10.0, 2.9, 3.0, ORANGE, "v_head: V (B, T)", height=0.8)
    ax.text(4.2, 2.2, "r_t = −kl_coef · (log π − log π_ref)_t   (+ score at the last token)", ha="left", fontsize=9)
    ax.text(4.2, 1.5, "δ_t = r_t + γ V_{t+1} − V_t        A_t = Σ_k (γλ)^k δ_{t+k}   (one matrix product)",
            ha="left", fontsize=9)
    ax.text(4.2, 0.8, "loss = clipped policy loss(A, whitened) + vf_coef · clipped value loss(V, A + V_old)",
            ha="left", fontsize=9)
    ax.set_xlim(-0.5, 14.5), ax.set_ylim(0.3, 5.0)
    return finish(fig, [ax])


def lifecycle_stages():
    """Notebook 12: the seven stages, the files each hands to the next, and the evaluation after every model."""
    fig, ax = plt.subplots(figsize=(14.5, 4.6))
    stages = [("world", GREY, "stories, chat,\npreference pairs,\ntasks (.jsonl)"),
              ("tokenizer", GREY, "BPE, 4096 ids\n+ <|im_start|> ..."),
              ("pretrain", BLUE, "base model\n1.38M, 128 positions"),
              ("sft", BLUE, "chat model\n512 positions (YaRN)"),
              ("dpo", BLUE, "LoRA r = 8,\nmerged"),
              ("grpo", BLUE, "GRPO on\nword problems"),
              ("export", ORANGE, "final/\nHugging Face folder")]
    for i, (name, colour, made) in enumerate(stages):
        x = i * 2.1
        box(ax, x, 3.0, 1.8, colour, name, text_colour=INK if colour == GREY else "white", height=1.0, fontsize=10)
        ax.text(x + 0.9, 1.95, made, ha="center", va="top", fontsize=7.8, color=INK)
        if i:
            arrow(ax, x - 0.3, 3.0, x + 0.02, 3.0)
        if colour == BLUE:
            arrow(ax, x + 0.9, 0.75, x + 0.9, 0.15)
            box(ax, x + 0.1, -0.25, 1.6, LIGHT_BLUE, "evaluate", text_colour=INK, height=0.6, fontsize=8.5)
    ax.text(7.35, 4.0, "each stage reads the folders of the stages before it and writes OUT/<stage>/", ha="center",
            fontsize=9.5)
    ax.text(7.35, -1.0, "the same held-out sets after every model: story perplexity, exact match per kind, "
            "made-up answers, arithmetic pass@1", ha="center", fontsize=9, color=BLUE)
    ax.set_xlim(-0.4, 14.9), ax.set_ylim(-1.4, 4.4)
    return finish(fig, [ax])


def stage_resume():
    """Notebook 12: what run_stage finds in a stage's folder, and what it does."""
    fig, ax = plt.subplots(figsize=(14.5, 4.2))
    cases = [("OUT/sft/", ["model/", "done.json"], "finished: read done.json,\nrun nothing", BLUE),
             ("OUT/dpo/", ["checkpoints/step-40/", "checkpoints/latest.json"], "killed mid-way: the loop\n"
              "resumes at step 40", ORANGE),
             ("OUT/grpo/", ["(empty, or missing)"], "never started: run it\nfrom step 0", GREY)]
    for r, (folder, files, action, colour) in enumerate(cases):
        y = 3.2 - r * 1.4
        box(ax, 0, y, 2.4, GREY, folder, text_colour=INK, height=0.9, fontsize=9)
        for k, name in enumerate(files):
            box(ax, 2.7 + k * 3.0, y, 2.8, LIGHT_BLUE if name != files[0] or len(files) > 1 else "white", name,
                text_colour=INK, height=0.7, fontsize=8)
        arrow(ax, 8.7, y, 9.6, y)
        box(ax, 9.7, y, 4.2, colour, action, text_colour=INK if colour == GREY else "white", height=1.0, fontsize=8.5)
    ax.text(7.0, 4.3, "run_stage: done.json is written last and atomically, so it exists only for a finished stage",
            ha="center", fontsize=9.5)
    ax.text(7.0, -0.75, "OUT/config.json keeps the sizes the run began with: resuming with other sizes is refused",
            ha="center", fontsize=9, color=INK)
    ax.set_xlim(-0.4, 14.2), ax.set_ylim(-1.1, 4.7)
    return finish(fig, [ax])


def stage_evaluation():
    """Notebook 12: one model, three held-out sets, four measures."""
    fig, ax = plt.subplots(figsize=(14.5, 4.0))
    box(ax, 0, 2.0, 2.6, BLUE, "the stage's model", height=1.2, fontsize=9.5)
    sets = [("validation windows\n20 batches of (16, 128)", "story perplexity\nexp(mean cross-entropy)"),
            ("200 validation conversations\nthrough the chat template", "exact match per kind;\nmade-up = 1 − EM(unknown)"),
            ("200 validation word problems\n(greedy, 8 tokens)", "arithmetic pass@1")]
    for r, (data, measure) in enumerate(sets):
        y = 3.4 - r * 1.4
        arrow(ax, 2.7, 2.0, 4.0, y)
        box(ax, 4.1, y, 4.2, GREY, data, text_colour=INK, height=1.0, fontsize=8.5)
        arrow(ax, 8.4, y, 9.3, y)
        box(ax, 9.4, y, 4.2, LIGHT_BLUE, measure, text_colour=INK, height=1.0, fontsize=8.5)
    ax.text(7.0, -0.55, "the same rows for every stage: the differences between rows of the table are the stages' "
            "doing", ha="center", fontsize=9, color=BLUE)
    ax.set_xlim(-0.4, 14.0), ax.set_ylim(-0.9, 4.2)
    return finish(fig, [ax])


def export_parity():
    """Notebook 12: the exported folder read by our code and by transformers; the same prompt ids, the same tokens."""
    fig, ax = plt.subplots(figsize=(14.5, 4.0))
    files = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json\n(chat template)"]
    for k, name in enumerate(files):
        box(ax, 5.4, 3.4 - k * 0.9, 3.2, GREY, name, text_colour=INK, height=0.75, fontsize=8.5)
    ax.text(7.0, 4.15, "OUT/final/", ha="center", fontsize=10, weight="bold")
    for x, colour, steps in ((0.0, BLUE, ["load_chat_model", "encode_chat(…, add_generation_prompt)",
                                          "generate(greedy, stop at <|im_end|>)"]),
                             (10.0, ORANGE, ["AutoModelForCausalLM, AutoTokenizer", "apply_chat_template(…)",
                                             "model.generate(do_sample=False)"])):
        for k, step in enumerate(steps):
            box(ax, x, 3.2 - k * 1.0, 4.0, colour, step, height=0.75, fontsize=8.5)
        arrow(ax, 5.3 if x == 0 else 8.7, 2.2, 4.1 if x == 0 else 9.9, 2.2)
    ax.text(2.0, 4.15, "rawllm", ha="center", fontsize=10, weight="bold")
    ax.text(12.0, 4.15, "transformers", ha="center", fontsize=10, weight="bold")
    ax.text(7.0, -0.2, "every held-out question: prompt ids equal, greedy answer tokens equal", ha="center",
            fontsize=9.5, color=BLUE)
    ax.set_xlim(-0.4, 14.4), ax.set_ylim(-0.6, 4.5)
    return finish(fig, [ax])


def linear_attention_state():
    """Notebook 02: softmax attention keeps every key and value (the cache grows by one row per token); linear
    attention folds each token into a state S = sum phi(k) v^T of fixed size d_k x d_v and reads it with phi(q)."""
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 4.6), gridspec_kw={"width_ratios": [1, 1.25]})
    ax = axes[0]
    for t in range(7):
        for i in range(4):
            cell(ax, i, 4 - t * 0.8, LIGHT_BLUE if t < 6 else BLUE, size=0.7)
            cell(ax, 5 + i, 4 - t * 0.8, LIGHT_BLUE if t < 6 else BLUE, size=0.7)
        ax.text(-0.9, 4 - t * 0.8, f"token {t}" if t < 6 else "new", ha="right", va="center", fontsize=8)
    ax.text(1.5, 4.75, "K (L, d_k)", ha="center", fontsize=10, weight="bold")
    ax.text(6.5, 4.75, "V (L, d_v)", ha="center", fontsize=10, weight="bold")
    ax.text(3.75, -1.75, "softmax: every step reads all L rows;\nthe cache grows by one row per token: O(L) memory",
            ha="center", va="center", fontsize=9.5)
    ax.set_xlim(-2.4, 9), ax.set_ylim(-2.4, 5.3)
    ax = axes[1]
    for i in range(4):
        cell(ax, 0, 3.4 - i * 0.8, ORANGE, size=0.7)                  # phi(k_t), a column
        cell(ax, 1.6 + i * 0.8, 4.4, BLUE, size=0.7)                  # v_t^T, a row
        for j in range(4):
            cell(ax, 1.6 + j * 0.8, 3.4 - i * 0.8, LIGHT_BLUE, size=0.7)
            cell(ax, 7.4 + j * 0.8, 3.4 - i * 0.8, BLUE, size=0.7)    # the state S
    ax.text(0, 4.4, "φ(k_t)", ha="center", va="center", fontsize=9)
    ax.text(2.8, 5.1, "v_t (d_v)", ha="center", fontsize=9)
    ax.text(2.8, 0.35, "φ(k_t) v_tᵀ (d_k, d_v)", ha="center", fontsize=9)
    ax.text(5.7, 2.2, "+=", ha="center", va="center", fontsize=18)
    ax.text(8.6, 4.2, "S (d_k, d_v)", ha="center", fontsize=10, weight="bold")
    ax.text(8.6, 0.35, "z += φ(k_t) (d_k)", ha="center", fontsize=9)
    arrow(ax, 8.6, -0.2, 8.6, -0.9)
    ax.text(8.6, -1.45, "o_t = φ(q_t)ᵀ S / φ(q_t)ᵀ z   (d_v)", ha="center", va="center", fontsize=10)
    ax.text(3.0, -1.75, "linear: one outer product in, one read out;\nthe state never grows: O(1) per token",
            ha="center", va="center", fontsize=9.5)
    ax.set_xlim(-1.2, 11.2), ax.set_ylim(-2.4, 5.6)
    return finish(fig, axes)


def paged_kv_cache():
    """Notebook 07: a pool of fixed-size blocks shared by three sequences; each sequence's block table lists its
    blocks in order, so its keys need not be contiguous; a finished sequence's blocks go back to the free list."""
    fig, ax = plt.subplots(figsize=(14.5, 4.4))
    owners = {0: "A", 1: "B", 2: "A", 3: "C", 4: "B", 5: None, 6: "A", 7: "C", 8: None, 9: None, 10: None, 11: None}
    filled = {0: 4, 1: 4, 2: 4, 3: 4, 4: 2, 6: 2, 7: 1}
    colours = {"A": BLUE, "B": ORANGE, "C": DOC2}
    for b in range(12):
        x0, y0 = (b % 6) * 2.3, 3.0 - (b // 6) * 1.6
        for s in range(4):
            owner = owners[b]
            colour = GREY if owner is None or s >= filled.get(b, 0) else colours[owner]
            cell(ax, x0 + s * 0.5, y0, colour, size=0.44)
        ax.text(x0 + 0.75, y0 + 0.45, f"block {b}", ha="center", va="bottom", fontsize=8)
    ax.text(6.0, 4.2, "the pool, per layer: k and v of shape (num_blocks, block_size, kv_heads, head_dim)",
            ha="center", fontsize=10, weight="bold")
    tables = [("A", [0, 2, 6], 10), ("B", [1, 4], 6), ("C", [3, 7], 5)]
    for r, (name, blocks, n) in enumerate(tables):
        y = 3.1 - r * 0.8
        ax.text(14.3, y, f"{name}: [{', '.join(map(str, blocks))}]", ha="left", va="center", fontsize=10,
                color=colours[name], weight="bold")
        ax.text(16.6, y, f"{n} tokens, {len(blocks) * 4 - n} slot(s) unused", ha="left", va="center", fontsize=9)
    ax.text(14.3, 3.9, "block tables (block_size 4)", ha="left", fontsize=10, weight="bold")
    ax.text(14.3, 0.55, "position p of a sequence: block table[p // 4], slot p % 4\nfree list: 5, 8, 9, 10, 11; "
            "a finished sequence returns its blocks", ha="left", va="center", fontsize=9)
    ax.text(6.0, 0.3, "grey: free or not yet written; waste is under one block per sequence", ha="center",
            fontsize=9)
    ax.set_xlim(-0.6, 20.5), ax.set_ylim(-0.2, 4.6)
    return finish(fig, [ax])


def continuous_batching():
    """Notebook 07: the same six requests served by static batches (a batch runs until its longest request
    ends) and by continuous batching (a request joins as soon as a slot frees up)."""
    fig, axes = plt.subplots(2, 1, figsize=(14.5, 4.6))
    lengths = [3, 9, 4, 5, 2, 6]
    palette = [BLUE, ORANGE, DOC2, LIGHT_BLUE, "#b58ad6", "#e0b040"]

    def lane(ax, slot, start, n, request):
        for t in range(n):
            cell(ax, start + t, -slot, palette[request], f"r{request}" if t == 0 else "", fontsize=7.5)

    ax = axes[0]
    for batch in range(2):
        start = 0 if batch == 0 else max(lengths[:3])
        for slot in range(3):
            request = batch * 3 + slot
            lane(ax, slot, start, lengths[request], request)
            for t in range(lengths[request], max(lengths[batch * 3:batch * 3 + 3])):
                cell(ax, start + t, -slot, GREY)
    ax.set_title(f"static batches of 3: {max(lengths[:3]) + max(lengths[3:])} steps, grey slots compute nothing useful",
                 fontsize=10)
    ax = axes[1]
    free_at, slots = [0, 0, 0], []
    for request, n in enumerate(lengths):
        slot = min(range(3), key=lambda s: free_at[s])
        lane(ax, slot, free_at[slot], n, request)
        free_at[slot] += n
    ax.set_title(f"continuous batching: {max(free_at)} steps, a waiting request takes a slot as soon as one frees up (decoding steps →)",
                 fontsize=10)
    for ax in axes:
        for slot in range(3):
            ax.text(-0.9, -slot, f"slot {slot}", ha="right", va="center", fontsize=8.5)
        ax.set_xlim(-2.2, 16), ax.set_ylim(-2.7, 0.7)
    return finish(fig, axes)


def residual_variants():
    """Notebook 04: where the norm sits in a block, for pre-norm, post-norm / DeepNorm and the parallel block;
    LayerScale and DropPath act on a branch's output before it joins the stream."""
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 5.0))

    def stream(ax, y0, y1):
        ax.annotate("", xy=(0, y1), xytext=(0, y0), arrowprops=dict(arrowstyle="->", color=BLUE, lw=2.2))

    def op(ax, x, y, text, colour=LIGHT_BLUE, width=1.9):
        box(ax, x - width / 2, y, width, colour, text, text_colour=INK, height=0.62, fontsize=8.5)

    def plus(ax, y, text="+"):
        ax.add_patch(plt.Circle((0, y), 0.22, facecolor="white", edgecolor=INK, lw=1.2, zorder=3))
        ax.text(0, y, text, ha="center", va="center", fontsize=10, zorder=4)

    ax = axes[0]                                                   # pre-norm
    stream(ax, 0, 6.3)
    for y, name in ((1.2, "attention"), (3.9, "SwiGLU")):
        op(ax, 1.6, y, "RMSNorm", GREY)
        op(ax, 1.6, y + 1.0, name)
        arrow(ax, 0.05, y - 0.45, 1.0, y - 0.2)
        arrow(ax, 1.0, y + 1.2, 0.25, y + 1.7)
        plus(ax, y + 1.75)
    ax.set_title("pre-norm (Llama): x + f(norm(x))\nthe stream itself is never normed", fontsize=10)
    ax = axes[1]                                                   # post-norm and DeepNorm
    stream(ax, 0, 6.3)
    for y, name in ((0.9, "attention"), (3.6, "SwiGLU")):
        op(ax, 1.6, y + 0.5, name)
        arrow(ax, 0.05, y, 1.0, y + 0.3)
        arrow(ax, 1.0, y + 0.75, 0.25, y + 1.15)
        plus(ax, y + 1.2, "+")
        ax.text(-0.35, y + 0.75, "× α", ha="right", va="center", fontsize=9, color=ORANGE)
        op(ax, 0, y + 2.0, "RMSNorm", GREY, width=1.5)
    ax.set_title("post-norm: norm(x + f(x)); DeepNorm: norm(α x + f(x)),\nα = (2N)^¼, and f's init × β = (8N)^-¼",
                 fontsize=10)
    ax = axes[2]                                                   # parallel
    stream(ax, 0, 6.3)
    op(ax, 1.6, 1.4, "RMSNorm", GREY)
    arrow(ax, 0.05, 0.9, 1.0, 1.2)
    op(ax, 0.9, 3.0, "attention", width=1.6)
    op(ax, 2.9, 3.0, "SwiGLU", width=1.6)
    arrow(ax, 1.6, 1.75, 0.9, 2.65), arrow(ax, 1.6, 1.75, 2.9, 2.65)
    arrow(ax, 0.9, 3.35, 0.25, 4.45), arrow(ax, 2.9, 3.35, 0.25, 4.5)
    plus(ax, 4.6)
    box(ax, 0.95, 5.55, 3.8, LIGHT_BLUE, "on any branch: × γ (LayerScale)\n× 0 or 1/(1-p) per sample (DropPath)",
        text_colour=INK, height=0.9, fontsize=8.5)
    ax.set_title("parallel (GPT-J): x + attn(norm(x)) + mlp(norm(x))\nboth branches read one normed input",
                 fontsize=10)
    for ax in axes:
        ax.text(0, -0.35, "x (batch, seq, d_model)", ha="center", va="top", fontsize=8.5)
        ax.set_xlim(-2.2, 4.8), ax.set_ylim(-0.9, 6.6)
    return finish(fig, axes)


FIGURES = {   # name: (the notebooks that show it, its drawing)
    "linear_attention_state": (("02_attention.ipynb",), linear_attention_state),
    "residual_variants": (("04_transformer.ipynb",), residual_variants),
    "padded_batch_mask": (("04_transformer.ipynb", "06_pretraining.ipynb", "07_generation.ipynb"), padded_batch_mask),
    "paged_kv_cache": (("07_generation.ipynb",), paged_kv_cache),
    "continuous_batching": (("07_generation.ipynb",), continuous_batching),
    "chat_template_mask": (("08_supervised_fine_tuning.ipynb",), chat_template_mask),
    "padding_vs_packing": (("08_supervised_fine_tuning.ipynb",), padding_vs_packing),
    "lora_adapter": (("09_lora_and_qlora.ipynb",), lora_adapter),
    "nf4_quantization": (("09_lora_and_qlora.ipynb",), nf4_quantization),
    "qlora_layer": (("09_lora_and_qlora.ipynb",), qlora_layer),
    "dpo_flow": (("10_preference_tuning.ipynb",), dpo_flow),
    "grpo_group": (("11_reinforcement_learning.ipynb",), grpo_group),
    "token_weights": (("11_reinforcement_learning.ipynb",), token_weights),
    "ppo_gae": (("11_reinforcement_learning.ipynb",), ppo_gae),
    "lifecycle_stages": (("12_lifecycle.ipynb",), lifecycle_stages),
    "stage_resume": (("12_lifecycle.ipynb",), stage_resume),
    "stage_evaluation": (("12_lifecycle.ipynb",), stage_evaluation),
    "export_parity": (("12_lifecycle.ipynb",), export_parity),
}
for _nn in ("00", "01", "02", "03", "04", "05", "06", "07"):
    _module = __import__(f"figures_{_nn}")   # NOTEBOOK and DRAWINGS; a figure is named after its function
    _clash = {d.__name__ for d in _module.DRAWINGS} & set(FIGURES)
    if _clash:
        raise SystemExit(f"figures_{_nn}.py: figure names already used: {sorted(_clash)}")
    FIGURES.update({d.__name__: ((_module.NOTEBOOK,), d) for d in _module.DRAWINGS})


def draw(name: str) -> Path:
    _, make = FIGURES[name]
    fig = make()
    path = ASSETS / f"{name}.png"
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def attachment_cells(nb: dict, name: str) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "markdown" and f"(attachment:{name}.png)" in "".join(c["source"])]


def embed(name: str) -> bool:
    """Put assets/<name>.png into the markdown cell of each notebook that shows it; True when one changed."""
    data = base64.b64encode((ASSETS / f"{name}.png").read_bytes()).decode()
    attachments = {f"{name}.png": {"image/png": data}}
    changed = False
    for notebook in FIGURES[name][0]:
        path = NOTEBOOKS / notebook
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = attachment_cells(nb, name)
        if len(cells) != 1:
            raise SystemExit(f"{notebook}: expected one markdown cell showing attachment:{name}.png, found {len(cells)}")
        if cells[0].get("attachments") != attachments:
            cells[0]["attachments"] = attachments
            path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed = True
    return changed


def stale() -> list[str]:
    """Figures whose embedded copy differs from assets/<name>.png."""
    problems = []
    for name, (notebooks, _) in FIGURES.items():
        for notebook in notebooks:
            nb = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))
            cells = attachment_cells(nb, name)
            embedded = cells[0].get("attachments", {}).get(f"{name}.png", {}).get("image/png") if len(cells) == 1 else None
            if embedded is None or base64.b64decode(embedded) != (ASSETS / f"{name}.png").read_bytes():
                problems.append(f"{notebook}: {name}.png")
    return problems


def main(argv: list[str]) -> int:
    if "--check" in argv:
        problems = stale()
        for problem in problems:
            print(f"stale figure: {problem} (run python assets/figures.py)", file=sys.stderr)
        return 1 if problems else 0
    names = list(FIGURES)
    if "--notebook" in argv:
        notebook = argv[argv.index("--notebook") + 1]
        names = [n for n in FIGURES if any(nb.startswith(notebook) for nb in FIGURES[n][0])]
        if not names:
            raise SystemExit(f"no figure is shown in a notebook starting with {notebook!r}")
    for name in names:
        print("drew", draw(name).name, "and embedded it" if embed(name) else "(embedded copy unchanged)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
