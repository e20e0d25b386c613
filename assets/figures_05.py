"""Drawn figures of notebook 05; `python assets/figures.py --notebook 05` redraws and embeds them."""
from __future__ import annotations

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401

FIGURES: dict = {}   # name: (the notebooks that show it, its drawing)
