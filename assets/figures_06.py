"""Drawn figures of notebook 06; `python assets/figures.py --notebook 06` redraws and embeds them."""
from __future__ import annotations

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


def grid(ax, x0, y0, rows, cols, colour, size=0.8, step=0.85, texts=None, text_colour="white", fontsize=8):
    """rows x cols cells, top-left cell centred at (x0, y0); texts[i][j] labels a cell."""
    for i in range(rows):
        for j in range(cols):
            fill = colour(i, j) if callable(colour) else colour
            label = texts[i][j] if texts else ""
            cell(ax, x0 + j * step, y0 - i * step, fill, label, text_colour, size=size, fontsize=fontsize)


def first_training_loop():
    """Notebook 06: one step of the first loop, with shapes: a batch (B, T+1) of windows becomes x and y (B, T),
    the model gives logits (B, T, V), cross-entropy a scalar loss, backward the gradients, AdamW the update."""
    fig, ax = plt.subplots(figsize=(15, 5.4))
    B, T = 4, 6
    ids = [[12, 7, 301, 9, 44, 5, 88], [4092, 61, 15, 230, 9, 17, 3], [402, 33, 8, 77, 4092, 150, 21],
           [90, 6, 512, 27, 13, 64, 2]]
    grid(ax, 0, 4, B, T + 1, lambda i, j: ORANGE if ids[i][j] == 4092 else BLUE, texts=ids, fontsize=7)
    ax.text(2.55, 4.9, "batch", ha="center", fontsize=11, weight="bold")
    ax.text(2.55, 0.55, "(B, T + 1): B windows of\nT + 1 consecutive ids\n(orange: <|endoftext|>)",
            ha="center", va="top", fontsize=8.5)
    arrow(ax, 6.0, 3.4, 7.2, 4.1, "[:, :-1]")
    arrow(ax, 6.0, 2.0, 7.2, 1.3, "[:, 1:]")
    grid(ax, 7.6, 5.0, B, T, BLUE, size=0.55, step=0.6)
    ax.text(9.1, 5.55, "x  (B, T)", ha="center", fontsize=10, weight="bold")
    grid(ax, 7.6, 1.95, B, T, LIGHT_BLUE, size=0.55, step=0.6)
    ax.text(9.1, 2.5, "y  (B, T)", ha="center", fontsize=10, weight="bold")
    ax.text(9.1, -0.45, "y = x shifted by one:\nthe token after each position", ha="center", va="top", fontsize=8.5)
    arrow(ax, 11.0, 4.1, 12.1, 4.1)
    box(ax, 12.2, 4.1, 2.4, BLUE, "model\n(Transformer)", height=1.3, fontsize=9)
    arrow(ax, 14.7, 4.1, 15.8, 4.1)
    for d in (2, 1, 0):                                        # the vocabulary axis, as stacked sheets
        grid(ax, 16.1 + d * 0.25, 5.0 + d * 0.25, B, T, LIGHT_BLUE if d else BLUE, size=0.55, step=0.6)
    ax.text(17.8, 5.95, "logits  (B, T, V)", ha="center", fontsize=10, weight="bold")
    ax.text(17.6, 2.75, "a score for each of the\nV = 4096 ids at each position", ha="center", va="top",
            fontsize=8.5)
    arrow(ax, 19.9, 4.1, 21.0, 3.0)
    arrow(ax, 11.0, 1.0, 21.0, 2.3)
    box(ax, 21.1, 2.6, 2.6, GREY, "cross-entropy\nflatten: (B·T, V), (B·T,)", text_colour=INK, height=1.3,
        fontsize=8.5)
    arrow(ax, 23.8, 2.6, 24.6, 2.6)
    cell(ax, 25.1, 2.6, ORANGE, "loss", fontsize=8.5)
    ax.text(25.1, 1.95, "()  mean over\nB·T predictions", ha="center", va="top", fontsize=8.5)
    ax.plot([25.6, 26.1, 26.1, 13.4], [2.6, 2.6, -0.75, -0.75], color=ORANGE, lw=1.4)      # backward: loss -> weights
    arrow(ax, 13.4, -0.75, 13.4, 3.4, colour=ORANGE)
    ax.text(19.3, -0.95, "loss.backward(): a gradient p.grad of the same shape for every weight p", ha="center",
            va="top", fontsize=8.5, color=ORANGE)
    box(ax, 12.0, 6.4, 2.8, DOC2, "optimizer.step()\nAdamW: p ← p − update", height=1.1, fontsize=8.5)
    arrow(ax, 13.4, 5.85, 13.4, 4.8)
    ax.text(13.4, 7.25, "then zero_grad() and the next batch", ha="center", va="bottom", fontsize=8.5)
    ax.set_xlim(-0.7, 26.6), ax.set_ylim(-1.6, 7.8)
    return finish(fig, [ax])


def token_file_pipeline():
    """Notebook 06: stories -> tokenizer -> one flat uint16 file with its sidecar -> the sampler's windows
    (packed at any offset, or BOS-aligned at an <|endoftext|>) -> a batch (B, T + 1)."""
    fig, ax = plt.subplots(figsize=(15, 6.2))
    box(ax, 0, 5.6, 3.0, GREY, "story 1: Mia found a shell …", text_colour=INK, fontsize=8)
    box(ax, 0, 4.6, 3.0, GREY, "story 2: Tom ran home …", text_colour=INK, fontsize=8)
    ax.text(1.5, 6.45, "texts (streamed)", ha="center", fontsize=10, weight="bold")
    arrow(ax, 3.2, 5.1, 4.6, 5.1, "tokenizer")
    doc = [ORANGE] + [BLUE] * 7 + [ORANGE] + [DOC2] * 5 + [ORANGE] + [BLUE] * 5
    for j, colour in enumerate(doc):
        cell(ax, 5.2 + j * 0.6, 5.1, colour, "E" if colour == ORANGE else "", size=0.55, fontsize=7)
    ax.text(5.2 + 9.5 * 0.6, 6.45, "train.bin: one flat array of ids, (num_tokens,) uint16 (2 bytes each)",
            ha="center", fontsize=10, weight="bold")
    ax.text(5.2 + 9.5 * 0.6, 4.35, "E = <|endoftext|> before every story: packed, no padding; read through "
            "np.memmap (only the pages a batch touches)", ha="center", va="top", fontsize=8.5)
    box(ax, 18.0, 5.1, 4.6, LIGHT_BLUE, "train.json (the sidecar)\ndtype, vocab_size, tokenizer fingerprint,\n"
        "eot_id, num_tokens, num_documents, source", text_colour=INK, height=1.6, fontsize=8)
    ax.text(20.3, 3.9, "open_tokens refuses a file whose\nsidecar disagrees with the tokenizer", ha="center",
            va="top", fontsize=8.5)
    strip = [ORANGE] + [BLUE] * 9 + [ORANGE] + [DOC2] * 8 + [ORANGE] + [BLUE] * 9
    for y, title, windows in ((2.0, "packed: T + 1 = 6 ids from any offset", [(7, 13), (16, 22), (23, 29)]),
                              (0.0, "BOS-aligned: windows start at an E", [(0, 6), (10, 16), (19, 25)])):
        for j, colour in enumerate(strip):
            cell(ax, 1.0 + j * 0.6, y, colour, "E" if colour == ORANGE else "", size=0.55, fontsize=7)
        for a, b in windows:
            ax.add_patch(plt.Rectangle((1.0 + a * 0.6 - 0.33, y - 0.36), (b - a) * 0.6 + 0.06, 0.72, fill=False,
                                       edgecolor=INK, lw=1.6))
        ax.text(1.0 - 0.5, y + 0.55, title, ha="left", va="bottom", fontsize=9.5, weight="bold")
    ax.text(9.4, -0.75, "the windows of step s: a NumPy generator seeded with (seed, s), so resuming needs only s",
            ha="center", va="top", fontsize=8.5)
    arrow(ax, 18.6, 1.0, 20.0, 1.0, "stack")
    rows = [strip[a:b] for a, b in ((23, 29), (7, 13), (16, 22))]                 # the packed windows above
    for i, row in enumerate(rows):
        for j, colour in enumerate(row):
            cell(ax, 20.6 + j * 0.6, 1.6 - i * 0.6, colour, "E" if colour == ORANGE else "", size=0.55, fontsize=7)
    ax.text(22.1, 2.35, "a batch (B, T + 1)", ha="center", fontsize=10, weight="bold")
    ax.text(22.1, 0.0, "→ x, y (B, T) each", ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.6, 24.4), ax.set_ylim(-1.3, 6.9)
    return finish(fig, [ax])


def checkpoint_resume():
    """Notebook 06: what a checkpoint holds, how it is written (a temporary folder renamed, then the pointer),
    and why resuming continues the same run."""
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.6), gridspec_kw={"width_ratios": [1.45, 1]})
    ax = axes[0]
    parts = [("model.safetensors", "the weights"),
             ("optimizer.safetensors", "AdamW's exp_avg, exp_avg_sq (Muon's momentum_buffer)"),
             ("rng.safetensors", "torch's generator states (CPU, every GPU)"),
             ("state.json", "step, config, sampler (seed, data fingerprint), scaler,\nPython and NumPy RNG, history")]
    ax.text(4.0, 5.6, "1. write everything into .step-000300.tmp/", ha="left", fontsize=10, weight="bold")
    for k, (name, what) in enumerate(parts):
        y = 4.6 - k * 1.05
        box(ax, 0.0, y, 3.6, BLUE, name, height=0.8, fontsize=8.5)
        ax.text(3.8, y, what, ha="left", va="center", fontsize=8.5)
    ax.add_patch(plt.Rectangle((-0.2, 0.85), 11.0, 4.45, fill=False, edgecolor=INK, lw=1.2, ls="--"))
    arrow(ax, 1.8, 0.75, 1.8, -0.15)
    ax.text(2.0, 0.3, "2. os.replace(tmp, step-000300/): atomic rename", ha="left", va="center", fontsize=9)
    box(ax, 0.0, -0.65, 3.6, DOC2, "step-000300/", height=0.8, fontsize=9)
    arrow(ax, 3.7, -0.65, 5.0, -0.65)
    box(ax, 5.1, -0.65, 3.6, ORANGE, "latest.json → step-000300", height=0.8, fontsize=8.5)
    ax.text(8.9, -0.65, "3. the pointer,\nvia atomic_write", ha="left", va="center", fontsize=8.5)
    ax.text(5.3, -1.45, "killed at any moment: latest.json still names a complete folder", ha="center",
            va="top", fontsize=9, color=BLUE)
    ax.set_xlim(-0.5, 11.2), ax.set_ylim(-2.1, 6.1)

    ax = axes[1]
    ax.text(3.6, 5.6, "resume: the same run", ha="center", fontsize=10, weight="bold")
    for s in range(8):
        cell(ax, s, 4.3, BLUE, str(s + 1), size=0.8, fontsize=8)
    ax.text(-0.7, 4.3, "whole", ha="right", va="center", fontsize=9)
    for s in range(8):
        cell(ax, s, 2.9, BLUE if s < 5 else DOC2, str(s + 1), size=0.8, fontsize=8)
    ax.text(-0.7, 2.9, "killed +\nresumed", ha="right", va="center", fontsize=9)
    ax.plot([4.5, 4.5], [2.3, 3.5], color=ORANGE, lw=2.5)
    ax.text(4.5, 2.15, "checkpoint after step 5", ha="center", va="top", fontsize=8.5, color=ORANGE)
    ax.text(3.5, 1.1, "load: weights, moments, RNG, step 5\nstep 6's batch = sampler.batch(5), the same rows\n"
            "→ the same losses, bit for bit on the CPU", ha="center", va="top", fontsize=9)
    ax.set_xlim(-2.3, 8.0), ax.set_ylim(-2.1, 6.1)
    return finish(fig, axes)


def ddp_all_reduce():
    """Notebook 06: data parallelism. Each rank holds a copy of the model and its own rows of the global batch;
    all-reduce averages the gradients, so every rank makes the same update."""
    fig, ax = plt.subplots(figsize=(15, 5.6))
    for i in range(8):
        cell(ax, 0.0, 4.9 - i * 0.7, BLUE if i < 4 else DOC2, f"row {i}", size=0.62, fontsize=7)
    ax.text(0.0, 5.65, "global batch\n(B, T + 1), B = 8", ha="center", va="bottom", fontsize=9.5, weight="bold")
    for r, (y, colour) in enumerate(((4.0, BLUE), (1.2, DOC2))):
        arrow(ax, 0.6, y - 0.0, 2.0, y, f"rows {4 * r}–{4 * r + 3}")
        box(ax, 2.1, y, 2.8, colour, f"rank {r}: model copy", height=1.0, fontsize=9)
        arrow(ax, 5.0, y, 6.2, y, "backward")
        box(ax, 6.3, y, 1.8, LIGHT_BLUE, f"g{r}", text_colour=INK, height=1.0, fontsize=10)
        ax.text(7.2, y - 0.65, f"gradient of rank {r}'s\nmean loss (B/W rows)", ha="center", va="top", fontsize=8)
        arrow(ax, 8.2, y, 9.6, 2.6)
        arrow(ax, 13.0, 2.6, 14.4, y)
        box(ax, 14.5, y, 2.0, LIGHT_BLUE, "(g0 + g1) / 2", text_colour=INK, height=1.0, fontsize=9)
        arrow(ax, 16.6, y, 17.6, y, "step")
        box(ax, 17.7, y, 2.8, colour, f"rank {r}: same weights", height=1.0, fontsize=9)
    box(ax, 9.7, 2.6, 3.2, ORANGE, "all-reduce (mean)\nbucket by bucket,\nduring backward", height=1.5, fontsize=9)
    ax.text(11.3, 4.6, "W = 2 ranks (torchrun: RANK, WORLD_SIZE, LOCAL_RANK)", ha="center", fontsize=9.5)
    ax.text(11.3, -0.3, "equal row counts: the mean of the ranks' gradients is the gradient of the whole batch,\n"
            "so W processes make the update one process makes (up to summation order)", ha="center", va="top",
            fontsize=9, color=BLUE)
    ax.set_xlim(-0.9, 21.0), ax.set_ylim(-1.4, 6.7)
    return finish(fig, [ax])


def micro_batch_accumulation():
    """Notebook 06: gradient accumulation. A batch of B rows in A micro-batches of B/A rows; each loss is divided
    by A and backward adds into .grad, which ends equal to the big batch's gradient."""
    fig, ax = plt.subplots(figsize=(14, 4.4))
    colours = (BLUE, DOC2, LIGHT_BLUE, ORANGE)
    for a in range(4):
        for i in range(2):
            cell(ax, 0.0, 4.2 - (2 * a + i) * 0.6, colours[a], size=0.52)
    ax.text(0.0, 4.75, "batch (8, T)", ha="center", va="bottom", fontsize=9.5, weight="bold")
    for a in range(4):
        y = 4.0 - a * 1.2
        arrow(ax, 0.5, 4.2 - (2 * a + 0.5) * 0.6, 1.8, y)
        box(ax, 1.9, y, 2.8, colours[a], f"micro-batch {a}: (2, T)", text_colour=INK if a == 2 else "white",
            height=0.8, fontsize=8.5)
        arrow(ax, 4.8, y, 6.6, y, "loss / A, backward")
        box(ax, 6.7, y, 1.6, GREY, f"+ g{a} / 4", text_colour=INK, height=0.8, fontsize=9)
        arrow(ax, 8.4, y, 9.8, 2.2)
    box(ax, 9.9, 2.2, 3.2, LIGHT_BLUE, ".grad = (g0 + g1 + g2 + g3) / 4\n= the gradient of the batch",
        text_colour=INK, height=1.2, fontsize=9)
    ax.text(11.5, 3.3, "A = 4 accumulation steps", ha="center", va="bottom", fontsize=9.5)
    ax.text(11.5, 1.3, "then one optimizer step;\nmemory of 2 rows, the update of 8", ha="center", va="top",
            fontsize=9, color=BLUE)
    ax.set_xlim(-0.8, 13.5), ax.set_ylim(-0.3, 5.3)
    return finish(fig, [ax])


NOTEBOOK = "06_pretraining.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    first_training_loop,
    token_file_pipeline,
    micro_batch_accumulation,
    checkpoint_resume,
    ddp_all_reduce,
)
