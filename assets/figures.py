"""Drawn figures of the series: their sources, and the command that redraws them and embeds them in the notebooks.

    python assets/figures.py                     draw every figure to assets/<name>.png and embed it in its notebook
    python assets/figures.py --notebook 03_...   the same for the figures one notebook shows
    python assets/figures.py --check             exit 1 if a notebook's embedded copy differs from assets/<name>.png

A figure is embedded as an attachment of the markdown cell that shows it (`![...](attachment:<name>.png)`), so it
renders in Jupyter, JupyterLab, Colab and on GitHub without fetching a file from the repository.

The shapes and the palette live in `drawing.py` (one visual language, described there); each notebook keeps its
figures in `figures_<NN>.py`; the few below are shared or predate that layout.
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
}
for _nn in ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"):
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
