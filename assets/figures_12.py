"""Drawn figures of notebook 12; `python assets/figures.py --notebook 12` redraws and embeds them."""
from __future__ import annotations


from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


NOTEBOOK = "12_lifecycle.ipynb"


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


DRAWINGS = [lifecycle_stages, stage_resume, stage_evaluation, export_parity]
