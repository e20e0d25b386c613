# Generated from notebooks/03_positions.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Positions for attention: RoPE, its context-extension schemes, ALiBi, and a score explorer (notebook 03)."""
import math

import torch

from rawllm.attention import apply_rotary


def rope_inv_freq(rotary_dim: int, theta: float = 10000.0) -> torch.Tensor:
    """The rotation speed of each pair, theta ** (-2i / rotary_dim) radians per position: (rotary_dim // 2,)."""
    exponents = torch.arange(0, rotary_dim, 2, dtype=torch.int64).float() / rotary_dim
    return 1.0 / (theta ** exponents)


def rope_table(inv_freq: torch.Tensor, max_positions: int, attention_factor: float = 1.0):
    """`(cos, sin)` for positions 0 .. max_positions - 1, each (max_positions, 2 * len(inv_freq)), half-split.

    Both are multiplied by `attention_factor`, as transformers' rotary embedding modules do.
    """
    angles = torch.arange(max_positions).float()[:, None] * inv_freq[None, :]   # (positions, rotary_dim / 2)
    angles = torch.cat((angles, angles), dim=-1)                                 # (positions, rotary_dim)
    return angles.cos() * attention_factor, angles.sin() * attention_factor


def _check_rope_inputs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"apply_rope expects x of shape (batch, heads, seq, head_dim), got {tuple(x.shape)}")
    if cos.shape != sin.shape or cos.dim() not in (2, 3):
        raise ValueError("cos and sin must share one shape, (positions, rotary_dim) or (batch, positions, "
                         f"rotary_dim); got {tuple(cos.shape)} and {tuple(sin.shape)}")
    seq, head_dim, positions, rotary_dim = x.shape[2], x.shape[3], cos.shape[-2], cos.shape[-1]
    if positions < seq:
        raise ValueError(f"the rope table is shorter than the sequence: it has {positions} positions, "
                         f"x has {seq}; build the table with max_positions >= {seq}")
    if rotary_dim % 2 or rotary_dim > head_dim:
        raise ValueError(f"the rope table has width {rotary_dim}: it must be even and at most head_dim={head_dim}")
    if cos.dim() == 3 and cos.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"the rope table has batch size {cos.shape[0]}, x has {x.shape[0]}")


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool = False) -> torch.Tensor:
    """Rotate queries or keys x (batch, heads, seq, head_dim) by the tables from `rope_table`/`rope_cos_sin`.

    cos, sin: (positions, rotary_dim) or (batch, positions, rotary_dim) in the half-split layout, positions >= seq;
    rows 0 .. seq - 1 are used. `interleaved=False` pairs dimension j with j + rotary_dim / 2 (Hugging Face
    Llama checkpoints); `interleaved=True` pairs 2i with 2i + 1 (the RoPE paper, Meta's and DeepSeek's code).
    Dimensions past rotary_dim pass through unchanged.
    """
    _check_rope_inputs(x, cos, sin)
    seq, rotary_dim = x.shape[2], cos.shape[-1]
    cos, sin = cos[..., :seq, :], sin[..., :seq, :]
    x_rot, x_pass = x[..., :rotary_dim], x[..., rotary_dim:]
    if interleaved:
        half = rotary_dim // 2
        c, s = cos[..., :half], sin[..., :half]                     # one angle per pair
        if c.dim() == 3:
            c, s = c[:, None], s[:, None]                           # broadcast over heads
        x1, x2 = x_rot[..., 0::2], x_rot[..., 1::2]                 # (batch, heads, seq, rotary_dim / 2)
        x_rot = torch.stack((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).flatten(-2)
    else:
        x_rot = apply_rotary(x_rot, cos, sin)
    return torch.cat((x_rot, x_pass), dim=-1) if x_pass.shape[-1] else x_rot


def half_split_permutation(rotary_dim: int) -> torch.Tensor:
    """Indices `perm` with x_half_split = x_interleaved[..., perm]: (0, 2, 4, ..., 1, 3, 5, ...).

    Permuting each head's rows of q_proj and k_proj by `perm` turns an interleaved-RoPE checkpoint into a
    half-split one with the same attention scores.
    """
    if rotary_dim % 2:
        raise ValueError(f"rotary_dim must be even, got {rotary_dim}")
    return torch.cat((torch.arange(0, rotary_dim, 2), torch.arange(1, rotary_dim, 2)))


def linear_inv_freq(rotary_dim: int, theta: float, factor: float) -> torch.Tensor:
    """Position interpolation: every frequency divided by `factor`."""
    return rope_inv_freq(rotary_dim, theta) / factor


def ntk_aware_inv_freq(rotary_dim: int, theta: float, factor: float) -> torch.Tensor:
    """NTK-aware scaling: the base raised to theta * factor ** (d / (d - 2)); the slowest pair slows by `factor`."""
    return rope_inv_freq(rotary_dim, theta * factor ** (rotary_dim / (rotary_dim - 2)))


def dynamic_ntk_inv_freq(rotary_dim: int, theta: float, factor: float, original_max_positions: int,
                         seq_len: int | None = None) -> torch.Tensor:
    """Dynamic NTK: NTK-aware with the factor factor * seq_len / original - (factor - 1), for seq_len > original."""
    seq_len = original_max_positions if seq_len is None else max(seq_len, original_max_positions)
    return ntk_aware_inv_freq(rotary_dim, theta, (factor * seq_len / original_max_positions) - (factor - 1))


def llama3_inv_freq(rotary_dim: int, theta: float, factor: float, low_freq_factor: float,
                    high_freq_factor: float, original_max_positions: int) -> torch.Tensor:
    """Llama 3.1 scaling: keep fast pairs, divide slow ones by `factor`, blend by wavelength in between."""
    inv_freq = rope_inv_freq(rotary_dim, theta)
    wavelength = 2 * math.pi / inv_freq
    smooth = (original_max_positions / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    interpolated = torch.where(wavelength > original_max_positions / low_freq_factor, inv_freq / factor, blended)
    return torch.where(wavelength < original_max_positions / high_freq_factor, inv_freq, interpolated)


def yarn_ramp(rotary_dim: int, theta: float, original_max_positions: int, beta_fast: float = 32.0,
              beta_slow: float = 1.0, truncate: bool = True) -> torch.Tensor:
    """YaRN's interpolation weight per pair, (rotary_dim // 2,): 0 keeps the frequency, 1 divides it by the factor."""
    def pair_with_turns(turns):           # the pair index that makes `turns` turns within the original context
        return (rotary_dim * math.log(original_max_positions / (turns * 2 * math.pi))) / (2 * math.log(theta))
    low, high = pair_with_turns(beta_fast), pair_with_turns(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rotary_dim - 1)
    if low == high:
        high += 0.001                     # avoid dividing by zero, as transformers does
    return torch.clamp((torch.arange(rotary_dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)


def yarn_inv_freq(rotary_dim: int, theta: float, factor: float, original_max_positions: int,
                  beta_fast: float = 32.0, beta_slow: float = 1.0, truncate: bool = True) -> torch.Tensor:
    """YaRN frequencies: extrapolate the fast pairs, interpolate the slow ones, ramp in between."""
    pos_freqs = theta ** (torch.arange(0, rotary_dim, 2).float() / rotary_dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    keep = 1 - yarn_ramp(rotary_dim, theta, original_max_positions, beta_fast, beta_slow, truncate)
    return interpolation * (1 - keep) + extrapolation * keep


def yarn_attention_factor(factor: float, mscale: float | None = None, mscale_all_dim: float | None = None) -> float:
    """YaRN's cos/sin multiplier: 0.1 ln(factor) + 1, or DeepSeek's ratio when mscale and mscale_all_dim are set."""
    def get_mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0
    if mscale and mscale_all_dim:
        return float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
    return get_mscale(factor)


ROPE_FIELDS = {  # rope_type: (required fields, optional fields) of its rope_parameters
    "default": ((), ()),
    "linear": (("factor",), ()),
    "dynamic": (("factor", "original_max_position_embeddings"), ()),
    "yarn": (("factor", "original_max_position_embeddings"),
             ("attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "truncate")),
    "llama3": (("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"), ()),
}
COMMON_FIELDS = ("rope_type", "type", "rope_theta", "partial_rotary_factor")


def check_rope_parameters(head_dim: int, theta: float, scaling: dict | None) -> tuple[dict, int]:
    """Validate `scaling` (a rope_parameters dict or None); return it with its rope_type, and the rotary dim."""
    params = dict(scaling or {})
    rope_type = params.setdefault("rope_type", params.pop("type", "default"))
    if rope_type not in ROPE_FIELDS:
        raise ValueError(f"unknown rope_type {rope_type!r}; supported: {', '.join(ROPE_FIELDS)}")
    required, optional = ROPE_FIELDS[rope_type]
    missing = [f for f in required if params.get(f) is None]
    if missing:
        raise ValueError(f"rope_type {rope_type!r} needs {', '.join(missing)} in its rope_parameters")
    unknown = sorted(set(params) - set(required) - set(optional) - set(COMMON_FIELDS))
    if unknown:
        raise ValueError(f"rope_type {rope_type!r} does not use {', '.join(unknown)}; its fields: "
                         f"{', '.join(required + optional) or 'none'} (and rope_theta, partial_rotary_factor)")
    if params.get("rope_theta", theta) != theta:
        raise ValueError(f"rope_parameters say rope_theta={params['rope_theta']} but theta={theta}; pass the same value")
    if "factor" in required and params["factor"] < 1:
        raise ValueError(f"factor must be >= 1 (the length multiplier), got {params['factor']}")
    rotary_dim = int(head_dim * params.get("partial_rotary_factor", 1.0))
    if head_dim % 2 or rotary_dim % 2 or rotary_dim < 2 or rotary_dim > head_dim:
        raise ValueError(f"RoPE rotates pairs of dimensions: head_dim={head_dim} with partial_rotary_factor="
                         f"{params.get('partial_rotary_factor', 1.0)} gives a rotary dim of {rotary_dim}, "
                         "which must be even and between 2 and head_dim")
    if rope_type == "dynamic" and rotary_dim <= 2:
        raise ValueError(f"dynamic NTK scaling needs a rotary dim above 2, got {rotary_dim}")
    return params, rotary_dim


def rope_frequencies(head_dim: int, theta: float = 10000.0, scaling: dict | None = None,
                     seq_len: int | None = None) -> tuple[torch.Tensor, float]:
    """`(inv_freq, attention_factor)` for a head, as transformers' ROPE_INIT_FUNCTIONS compute them.

    scaling: None or a rope_parameters dict with `rope_type` in default, linear, dynamic, yarn, llama3 and that
    type's fields; seq_len: the current length, used by dynamic only. inv_freq: (rotary_dim // 2,).
    """
    p, dim = check_rope_parameters(head_dim, theta, scaling)
    kind = p["rope_type"]
    if kind == "linear":
        return linear_inv_freq(dim, theta, p["factor"]), 1.0
    if kind == "dynamic":
        return dynamic_ntk_inv_freq(dim, theta, p["factor"], p["original_max_position_embeddings"], seq_len), 1.0
    if kind == "llama3":
        return llama3_inv_freq(dim, theta, p["factor"], p["low_freq_factor"], p["high_freq_factor"],
                               p["original_max_position_embeddings"]), 1.0
    if kind == "yarn":
        inv_freq = yarn_inv_freq(dim, theta, p["factor"], p["original_max_position_embeddings"],
                                 p.get("beta_fast") or 32, p.get("beta_slow") or 1, p.get("truncate", True))
        attention_factor = p.get("attention_factor")
        if attention_factor is None:
            attention_factor = yarn_attention_factor(p["factor"], p.get("mscale"), p.get("mscale_all_dim"))
        return inv_freq, attention_factor
    return rope_inv_freq(dim, theta), 1.0


def rope_cos_sin(head_dim: int, max_positions: int, theta: float = 10000.0, scaling: dict | None = None):
    """`(cos, sin)` for positions 0 .. max_positions - 1: each (max_positions, rotary_dim), half-split layout,
    multiplied by the attention factor; rotary_dim = head_dim unless scaling sets partial_rotary_factor."""
    if max_positions < 1:
        raise ValueError(f"max_positions must be at least 1, got {max_positions}")
    inv_freq, attention_factor = rope_frequencies(head_dim, theta, scaling, seq_len=max_positions)
    return rope_table(inv_freq, max_positions, attention_factor)


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi's per-head slopes, (n_heads,): 2 ** (-8h / n) for a power of two n, interleaved otherwise."""
    if not isinstance(n_heads, int) or n_heads < 1:
        raise ValueError(f"n_heads must be a positive integer, got {n_heads!r}")
    closest = 2 ** math.floor(math.log2(n_heads))
    slopes = [2 ** (-8 * h / closest) for h in range(1, closest + 1)]
    slopes += [2 ** (-8 * h / (2 * closest)) for h in range(1, 2 * (n_heads - closest), 2)]
    return torch.tensor(slopes)


def alibi_bias(n_heads: int, q_len: int, k_len: int, causal: bool = False) -> torch.Tensor:
    """The float mask -slope_h * |i - j|, (n_heads, q_len, k_len); queries sit at the last q_len key positions.

    causal=True also puts -inf on keys after the query. Add it to the scores, or pass it as `mask`.
    """
    if not 1 <= q_len <= k_len:
        raise ValueError(f"need 1 <= q_len <= k_len (queries are the last q_len keys), got q_len={q_len}, k_len={k_len}")
    q_pos = torch.arange(k_len - q_len, k_len)[:, None]                   # (q_len, 1)
    k_pos = torch.arange(k_len)[None, :]                                  # (1, k_len)
    bias = -alibi_slopes(n_heads)[:, None, None] * (q_pos - k_pos).abs()  # (n_heads, q_len, k_len)
    return bias.masked_fill(k_pos > q_pos, float("-inf")) if causal else bias


EXPLORER_SCHEMES = ("none", "rope", "linear", "ntk-aware", "dynamic", "llama3", "yarn", "alibi")


def scores_by_distance(q: torch.Tensor, k: torch.Tensor, max_distance: int, scheme: str = "rope",
                       theta: float = 10000.0, factor: float = 4.0, original_context: int = 512,
                       alibi_slope: float = 1 / 16) -> torch.Tensor:
    """Score between a query q (d,) at position n + delta and a key k (d,) at n, for delta = 0 .. max_distance.

    scheme: one of EXPLORER_SCHEMES; the extension schemes stretch `original_context` by `factor`.
    """
    if scheme not in EXPLORER_SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(EXPLORER_SCHEMES)}")
    d = q.shape[-1]
    plain = (q @ k) / math.sqrt(d)
    if scheme in ("none", "alibi"):
        slope = alibi_slope if scheme == "alibi" else 0.0
        return plain - slope * torch.arange(max_distance + 1, dtype=q.dtype)
    if scheme == "ntk-aware":
        inv_freq, attention_factor = ntk_aware_inv_freq(d, theta, factor), 1.0
    else:
        scaling = {"rope_type": "default"} if scheme == "rope" else {"rope_type": scheme, "factor": factor}
        if scheme in ("dynamic", "yarn", "llama3"):
            scaling["original_max_position_embeddings"] = original_context
        if scheme == "llama3":
            scaling.update(low_freq_factor=1.0, high_freq_factor=4.0)
        inv_freq, attention_factor = rope_frequencies(d, theta, scaling, seq_len=max_distance + 1)
    cos, sin = rope_table(inv_freq, max_distance + 1, attention_factor)     # (max_distance + 1, d)
    queries = apply_rope(q.expand(1, 1, max_distance + 1, d), cos, sin)[0, 0]  # q at position delta
    key = k * attention_factor                                              # k at position 0: no rotation
    return queries @ key / math.sqrt(d)


def position_explorer(head_dim: int = 64, theta: float = 10000.0, original_context: int = 512, seed: int = 0):
    """Dropdowns and sliders over a plot of `scores_by_distance`; returns the widget (ipywidgets 7 or 8)."""
    import io

    import ipywidgets as widgets
    from matplotlib.figure import Figure

    q_random, k_random = torch.randn(2, head_dim, generator=torch.Generator().manual_seed(seed))
    scheme = widgets.Dropdown(options=EXPLORER_SCHEMES, value="rope", description="scheme")
    vectors = widgets.Dropdown(options=("q = k", "random q, k"), value="q = k", description="vectors")
    factor = widgets.FloatSlider(value=4.0, min=1.0, max=16.0, step=0.5, description="factor s")
    distance = widgets.IntSlider(value=4 * original_context, min=16, max=16 * original_context, step=16,
                                 description="distances")
    slope = widgets.FloatLogSlider(value=1 / 16, base=2, min=-8, max=-1, step=1, description="ALiBi slope")
    image, info = widgets.Image(format="png"), widgets.HTML()

    def redraw(_=None):
        k = q_random if vectors.value == "q = k" else k_random
        kwargs = dict(theta=theta, factor=factor.value, original_context=original_context, alibi_slope=slope.value)
        ours = scores_by_distance(q_random, k, distance.value, scheme.value, **kwargs)
        plain = scores_by_distance(q_random, k, distance.value, "rope", **kwargs)
        fig = Figure(figsize=(8, 3.2))
        ax = fig.subplots()
        ax.plot(plain.numpy(), color="0.75", linewidth=0.8, label="plain RoPE")
        ax.plot(ours.numpy(), color="C0", linewidth=0.9, label=scheme.value)
        ax.axvline(original_context, color="k", linestyle=":", linewidth=1, label="training context")
        ax.set(xlabel="distance between query and key", ylabel="score", title=f"{scheme.value}, s = {factor.value:g}")
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        image.value = buffer.getvalue()
        info.value = (f"<b>{scheme.value}</b>: score {ours[0]:+.3f} at distance 0, "
                      f"{ours[-1]:+.3f} at distance {distance.value}")

    for control in (scheme, vectors, factor, distance, slope):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([scheme, vectors]), widgets.HBox([factor, distance, slope]), image, info])
