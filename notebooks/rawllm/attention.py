# Generated from notebooks/02_attention.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Attention from raw tensor operations: masks, multi-head, grouped-query, KV caches, sliding window, MLA, linear attention (notebook 02)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """exp(s - max s) / sum exp(s - max s); a row whose scores are all -inf gives zeros, not NaN."""
    peak = scores.amax(dim, keepdim=True).detach()
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    e = torch.exp(scores - peak)
    total = e.sum(dim, keepdim=True)
    return e / torch.where(total == 0, torch.ones_like(total), total)


def causal_mask_from_positions(q_positions: torch.Tensor, k_positions: torch.Tensor, window: int | None = None):
    """(Lq, Lk) bool, True where the query at q_positions[i] may attend to the key at k_positions[j]:
    j's position <= i's, and with a sliding window also > i's - window (the last `window` keys, itself included)."""
    allowed = k_positions[None, :] <= q_positions[:, None]
    if window is not None:
        allowed &= k_positions[None, :] > q_positions[:, None] - window
    return allowed


def causal_mask(q_len: int, k_len: int, window: int | None = None, device=None) -> torch.Tensor:
    """(q_len, k_len) bool causal mask, bottom-right aligned: query i sits at position k_len - q_len + i."""
    if q_len > k_len:
        raise ValueError(f"causal attention with {q_len} queries over {k_len} keys: the queries must be the last "
                         f"tokens of the keys' sequence, so q_len <= k_len")
    k_positions = torch.arange(k_len, device=device)
    return causal_mask_from_positions(k_positions[k_len - q_len:], k_positions, window)


def check_mask(mask: torch.Tensor, shape: tuple) -> None:
    """Raise a clear error unless `mask` is bool or float and broadcasts to `shape` = (batch, heads, Lq, Lk)."""
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"attention mask must be bool (True = attend) or float (added to the scores), got {mask.dtype}; "
                        f"for a (batch, seq) 0/1 padding mask use padding_mask(...)")
    try:
        ok = mask.dim() <= 4 and torch.broadcast_shapes(mask.shape, shape) == torch.Size(shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"attention mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"(batch, heads, q_len, k_len) = {tuple(shape)}")


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if not q.dim() == k.dim() == v.dim() == 4:
        raise ValueError(f"q, k, v must be (batch, heads, seq, head_dim); got shapes {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1] or k.shape[2] != v.shape[2] or k.shape[1] != v.shape[1]:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} need the same head_dim, and k and v "
                         f"{tuple(v.shape)} the same heads and length")
    if k.shape[1] not in (1, q.shape[1]):
        raise ValueError(f"k and v have {k.shape[1]} heads and q has {q.shape[1]}: expand grouped key/value heads "
                         f"with repeat_kv first")


def attention_weights(q, k, causal: bool = False, mask=None, scale: float | None = None) -> torch.Tensor:
    """softmax(q k^T * scale + mask) in float32: (batch, heads, Lq, Lk)."""
    batch, heads, q_len, head_dim = q.shape
    k_len = k.shape[2]
    scores = (q @ k.transpose(-2, -1)).float() * (head_dim**-0.5 if scale is None else scale)
    if mask is not None:
        check_mask(mask, (max(batch, k.shape[0]), heads, q_len, k_len))
        scores = scores.masked_fill(~mask, -math.inf) if mask.dtype == torch.bool else scores + mask
    if causal:
        scores = scores.masked_fill(~causal_mask(q_len, k_len, device=q.device), -math.inf)
    return softmax(scores, dim=-1)


def scaled_dot_product_attention(q, k, v, causal: bool = False, mask=None, scale: float | None = None):
    """Attention on (batch, heads, seq, head_dim) tensors from raw ops; mask as in F.scaled_dot_product_attention
    (bool True = attend, or float added to the scores); causal is bottom-right aligned (see causal_mask).
    Rows with every key masked give zeros. k and v may have one head shared by all query heads."""
    check_qkv(q, k, v)
    return attention_weights(q, k, causal, mask, scale).to(v.dtype) @ v


def padding_mask(lengths, seq_len: int, left: bool = False, device=None) -> torch.Tensor:
    """(batch, 1, 1, seq_len) bool, True on real tokens: `lengths[b]` of them, at the start (right padding)
    or at the end (left padding, `left=True`). Broadcasts to (batch, heads, q_len, seq_len)."""
    lengths = torch.as_tensor(lengths, device=device)
    if (lengths > seq_len).any() or (lengths < 0).any():
        raise ValueError(f"lengths {lengths.tolist()} must lie in 0..seq_len={seq_len}")
    index = torch.arange(seq_len, device=device)
    real = index >= seq_len - lengths[:, None] if left else index < lengths[:, None]
    return real[:, None, None, :]


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(batch, n_kv_heads, seq, dim) -> (batch, n_kv_heads * n_rep, seq, dim): kv head j serves query heads
    j*n_rep ... (j+1)*n_rep - 1, as torch.repeat_interleave(x, n_rep, dim=1) and Hugging Face's repeat_kv."""
    if n_rep == 1:
        return x
    batch, n_kv_heads, seq, dim = x.shape
    return x[:, :, None].expand(batch, n_kv_heads, n_rep, seq, dim).reshape(batch, n_kv_heads * n_rep, seq, dim)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension, in float32 (notebook 04 derives it)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """[x1; x2] -> [-x2; x1] on the last dimension: dimension m is paired with m + head_dim / 2."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, half-split layout: x (batch, heads, seq, head_dim); cos, sin (seq, head_dim) or
    (batch, seq, head_dim), for the positions of x's tokens."""
    if cos.shape != sin.shape or cos.dim() not in (2, 3) or cos.shape[-1] != x.shape[-1] or x.shape[-1] % 2:
        raise ValueError(f"rotary tables cos {tuple(cos.shape)} and sin {tuple(sin.shape)} must both be "
                         f"(seq, head_dim) or (batch, seq, head_dim) with an even head_dim = {x.shape[-1]}")
    if cos.shape[-2] != x.shape[-2]:
        raise ValueError(f"the rotary tables cover {cos.shape[-2]} positions but the input has {x.shape[-2]} tokens: "
                         f"pass cos, sin for exactly the positions being processed")
    if cos.dim() == 3:
        cos, sin = cos[:, None], sin[:, None]
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


def merge_masks(allowed: torch.Tensor, mask):
    """The bool mask `allowed` combined with an optional user mask: bool masks are AND-ed, float masks get -inf."""
    if mask is None:
        return allowed
    if mask.dtype == torch.bool:
        return allowed & mask
    return torch.where(allowed, mask, torch.full_like(mask, -math.inf))


def attend(q, k, v, causal=True, mask=None, window=None, q_positions=None, k_positions=None, scale=None,
           implementation: str = "eager"):
    """Attention on (batch, heads, seq, dim) tensors; k and v may have fewer heads (grouped-query), repeated here
    (or left to SDPA's enable_gqa when no mask is needed). Causality and the window follow the absolute positions
    of queries and keys when given (from a cache); otherwise the queries are the last tokens of the keys."""
    q_len, k_len = q.shape[2], k.shape[2]
    if mask is not None:
        check_mask(mask, (q.shape[0], q.shape[1], q_len, k_len))
    if causal and (window is not None or q_positions is not None or (implementation == "sdpa" and
                                                                     (mask is not None or q_len != k_len))):
        q_positions = torch.arange(k_len - q_len, k_len, device=q.device) if q_positions is None else q_positions
        k_positions = torch.arange(k_len, device=q.device) if k_positions is None else k_positions
        mask, causal = merge_masks(causal_mask_from_positions(q_positions, k_positions, window), mask), False
    n_rep = q.shape[1] // k.shape[1]
    if implementation == "sdpa":
        if mask is None and n_rep > 1:                # grouped heads, no mask: SDPA's own GQA, no copies
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale, enable_gqa=True)
        k, v = (k.expand(-1, q.shape[1], -1, -1), v.expand(-1, q.shape[1], -1, -1)) if k.shape[1] == 1 else \
            (repeat_kv(k, n_rep), repeat_kv(v, n_rep))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)
    if k.shape[1] != 1:
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
    return scaled_dot_product_attention(q, k, v, causal=causal, mask=mask, scale=scale)


def check_attention_config(d_model: int, n_heads: int, n_kv_heads: int | None, head_dim: int | None,
                           sliding_window: int | None, causal: bool, attn_implementation: str) -> tuple[int, int]:
    """(n_kv_heads, head_dim) of a MultiHeadAttention with the defaults filled in; a clear error for a
    configuration that cannot work."""
    n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
    if n_kv_heads < 1 or n_heads % n_kv_heads:
        raise ValueError(f"n_heads={n_heads} is not divisible by n_kv_heads={n_kv_heads}: every key/value head "
                         f"must serve the same number of query heads")
    if head_dim is None:
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}, so head_dim = d_model / "
                             f"n_heads is not an integer; pass head_dim explicitly")
        head_dim = d_model // n_heads
    if attn_implementation not in ("eager", "sdpa"):
        raise ValueError(f"attn_implementation must be 'eager' or 'sdpa', got {attn_implementation!r}")
    if sliding_window is not None and (sliding_window < 1 or not causal):
        raise ValueError(f"sliding_window={sliding_window} needs causal attention and a window of at least 1")
    return n_kv_heads, head_dim


class MultiHeadAttention(nn.Module):
    """Multi-head attention with grouped key/value heads, optional qk-norm, biases and sliding window (HF names)."""

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None = None, head_dim: int | None = None,
                 qk_norm: bool = False, bias: bool = False, o_bias: bool | None = None, sliding_window: int | None = None,
                 causal: bool = True, norm_eps: float = 1e-6, attn_implementation: str = "eager"):
        super().__init__()
        n_kv_heads, head_dim = check_attention_config(d_model, n_heads, n_kv_heads, head_dim, sliding_window, causal,
                                                      attn_implementation)
        self.d_model, self.n_heads, self.n_kv_heads, self.head_dim = d_model, n_heads, n_kv_heads, head_dim
        self.sliding_window, self.causal, self.attn_implementation = sliding_window, causal, attn_implementation
        self.q_proj = nn.Linear(d_model, n_heads * head_dim, bias=bias)
        self.k_proj = nn.Linear(d_model, n_kv_heads * head_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, n_kv_heads * head_dim, bias=bias)
        self.o_proj = nn.Linear(n_heads * head_dim, d_model, bias=bias if o_bias is None else o_bias)
        self.q_norm = RMSNorm(head_dim, norm_eps) if qk_norm else None
        self.k_norm = RMSNorm(head_dim, norm_eps) if qk_norm else None

    def project(self, x, position_embeddings=None):
        """q (B, n_heads, T, head_dim), k and v (B, n_kv_heads, T, head_dim): normed, then rotated."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"expected x of shape (batch, seq, d_model={self.d_model}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if position_embeddings is not None:
            cos, sin = position_embeddings
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        return q, k, v

    def forward(self, x, position_embeddings=None, attention_mask=None, cache=None):
        """x (batch, seq, d_model) -> (batch, seq, d_model). With a cache, x holds the tokens after the cached ones."""
        q, k, v = self.project(x, position_embeddings)
        q_positions = k_positions = None
        if cache is not None:
            if attention_mask is not None and not cache.keeps_every_position:
                raise ValueError("an attention_mask over keys cannot be used with a rolling cache, which drops keys")
            q_positions = torch.arange(cache.pos, cache.pos + x.shape[1], device=x.device)
            k, v, k_positions = cache.update(k, v)
        out = attend(q, k, v, self.causal, attention_mask, self.sliding_window, q_positions, k_positions,
                     implementation=self.attn_implementation)                          # (B, n_heads, T, head_dim)
        return self.o_proj(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None):
        """An empty cache for this layer: preallocated for max_len tokens, or rolling over the sliding window."""
        dtype, device = dtype or self.k_proj.weight.dtype, device or self.k_proj.weight.device
        if self.sliding_window is not None:
            return RollingKVCache(batch_size, self.n_kv_heads, self.sliding_window, self.head_dim, dtype=dtype,
                                  device=device)
        return KVCache(batch_size, self.n_kv_heads, max_len, self.head_dim, dtype=dtype, device=device)

    def attention_weights(self, x, position_embeddings=None):
        """The (batch, n_heads, seq, seq) attention weights of x attending to itself (for plots and the explorer)."""
        q, k, _ = self.project(x, position_embeddings)
        mask = causal_mask(x.shape[1], x.shape[1], self.sliding_window, device=x.device) if self.causal else None
        return attention_weights(q, repeat_kv(k, self.n_heads // self.n_kv_heads), mask=mask)


class KVCache:
    """Preallocated keys and values of one layer, (batch, heads, max_len, dim) each, and the write position `pos`."""
    keeps_every_position = True

    def __init__(self, batch_size: int, n_heads: int, max_len: int, k_dim: int, v_dim: int | None = None,
                 dtype=torch.float32, device=None):
        self.k = torch.zeros(batch_size, n_heads, max_len, k_dim, dtype=dtype, device=device)
        self.v = torch.zeros(batch_size, n_heads, max_len, v_dim or k_dim, dtype=dtype, device=device)
        self.pos = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes

    def update(self, k: torch.Tensor, v: torch.Tensor):
        """Append k, v (batch, heads, n, dim); return every cached key and value and their positions 0..pos-1."""
        n = k.shape[2]
        if self.pos + n > self.max_len:
            raise ValueError(f"KV cache full: writing {n} token(s) at position {self.pos} needs {self.pos + n} slots "
                             f"but the capacity is max_len={self.max_len}")
        if k.shape[:2] != self.k.shape[:2] or k.shape[3] != self.k.shape[3] or v.shape[3] != self.v.shape[3]:
            raise ValueError(f"keys {tuple(k.shape)} / values {tuple(v.shape)} do not fit a cache of "
                             f"{tuple(self.k.shape)} / {tuple(self.v.shape)}")
        self.k[:, :, self.pos:self.pos + n] = k
        self.v[:, :, self.pos:self.pos + n] = v
        self.pos += n
        positions = torch.arange(self.pos, device=self.k.device)
        return self.k[:, :, :self.pos], self.v[:, :, :self.pos], positions

    def reset(self) -> None:
        self.pos = 0


class RollingKVCache:
    """Keys and values of the last `window` positions in a ring buffer: position p lives in slot p % window."""
    keeps_every_position = False

    def __init__(self, batch_size: int, n_heads: int, window: int, k_dim: int, v_dim: int | None = None,
                 dtype=torch.float32, device=None):
        self.k = torch.zeros(batch_size, n_heads, window, k_dim, dtype=dtype, device=device)
        self.v = torch.zeros(batch_size, n_heads, window, v_dim or k_dim, dtype=dtype, device=device)
        self.slot_positions = torch.full((window,), -1, dtype=torch.long, device=device)   # -1: empty slot
        self.pos = 0

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes

    def update(self, k: torch.Tensor, v: torch.Tensor):
        """Return the stored keys/values followed by the new ones, with their absolute positions; keep the last window."""
        window, n = self.k.shape[2], k.shape[2]
        new_positions = torch.arange(self.pos, self.pos + n, device=self.k.device)
        filled = self.slot_positions >= 0
        k_all = torch.cat([self.k[:, :, filled], k], dim=2)
        v_all = torch.cat([self.v[:, :, filled], v], dim=2)
        positions = torch.cat([self.slot_positions[filled], new_positions])
        keep = min(n, window)
        slots = new_positions[-keep:] % window
        self.k[:, :, slots], self.v[:, :, slots] = k[:, :, -keep:], v[:, :, -keep:]
        self.slot_positions[slots] = new_positions[-keep:]
        self.pos += n
        return k_all, v_all, positions

    def reset(self) -> None:
        self.slot_positions.fill_(-1)
        self.pos = 0


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) = elu(x) + 1 (Katharopoulos et al. 2020): positive features, so every weight phi(q) . phi(k) > 0."""
    return F.elu(x) + 1


def linear_attention(q, k, v, feature_map=elu_feature_map, normalize: bool = True, eps: float = 1e-6):
    """Causal linear attention, parallel form: o_i = sum_{j<=i} (phi(q_i) . phi(k_j)) v_j, divided by
    sum_{j<=i} phi(q_i) . phi(k_j) when normalize. q, k (batch, heads, L, d_k), v (batch, heads, L, d_v) ->
    (batch, heads, L, d_v). It builds the (L, L) weights: O(L^2), the reference the recurrent form must equal."""
    check_qkv(q, k, v)
    weights = (feature_map(q) @ feature_map(k).transpose(-2, -1)).tril()        # (B, H, L, L), no softmax
    out = weights @ v
    return out / (weights.sum(-1, keepdim=True) + eps) if normalize else out


def linear_attention_recurrent(q, k, v, feature_map=elu_feature_map, normalize: bool = True, state=None,
                               eps: float = 1e-6):
    """The same outputs one token at a time from a running state: S = sum_j phi(k_j) v_j^T (batch, heads, d_k, d_v)
    and z = sum_j phi(k_j) (batch, heads, d_k). O(L) time and a state whose size does not grow with L.
    Returns (out, (S, z)); pass the state back to continue the sequence."""
    check_qkv(q, k, v)
    fq, fk = feature_map(q), feature_map(k)
    B, H, L, d_k = fq.shape
    S, z = state if state is not None else (q.new_zeros(B, H, d_k, v.shape[-1]), q.new_zeros(B, H, d_k))
    outs = []
    for t in range(L):
        S = S + fk[:, :, t, :, None] * v[:, :, t, None, :]              # add phi(k_t) v_t^T: (B, H, d_k, d_v)
        z = z + fk[:, :, t]
        o = (fq[:, :, t, None, :] @ S)[:, :, 0]                          # phi(q_t)^T S: (B, H, d_v)
        outs.append(o / ((fq[:, :, t] * z).sum(-1, keepdim=True) + eps) if normalize else o)
    return torch.stack(outs, dim=2), (S, z)


def mla_softmax_scale(qk_head_dim: int, rope_factor: float = 1.0, mscale_all_dim: float = 0.0) -> float:
    """DeepSeek's softmax scale: qk_head_dim^-0.5, times mscale^2 with mscale = 0.1 * mscale_all_dim * ln(factor) + 1
    when YaRN extends the context (rope_factor > 1 and mscale_all_dim set), as in transformers' DeepSeek-V3."""
    scale = qk_head_dim**-0.5
    if rope_factor > 1 and mscale_all_dim:
        mscale = 0.1 * mscale_all_dim * math.log(rope_factor) + 1.0
        scale *= mscale * mscale
    return scale


class MultiHeadLatentAttention(nn.Module):
    """DeepSeek-V2/V3 multi-head latent attention with Hugging Face names; caches the latent and the rope key."""

    def __init__(self, d_model: int, n_heads: int, kv_lora_rank: int, qk_rope_head_dim: int, qk_nope_head_dim: int,
                 v_head_dim: int, q_lora_rank: int | None = None, bias: bool = False, norm_eps: float = 1e-6,
                 softmax_scale: float | None = None, rope_interleave: bool = False):
        super().__init__()
        if qk_rope_head_dim % 2:
            raise ValueError(f"qk_rope_head_dim={qk_rope_head_dim} must be even: rotary pairs dimensions")
        self.d_model, self.n_heads, self.q_lora_rank, self.kv_lora_rank = d_model, n_heads, q_lora_rank, kv_lora_rank
        self.nope, self.rope, self.v_head_dim = qk_nope_head_dim, qk_rope_head_dim, v_head_dim
        self.qk_head_dim = qk_nope_head_dim + qk_rope_head_dim
        self.softmax_scale = self.qk_head_dim**-0.5 if softmax_scale is None else softmax_scale
        self.rope_interleave = rope_interleave
        if q_lora_rank is None:
            self.q_proj = nn.Linear(d_model, n_heads * self.qk_head_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(d_model, q_lora_rank, bias=bias)
            self.q_a_layernorm = RMSNorm(q_lora_rank, norm_eps)
            self.q_b_proj = nn.Linear(q_lora_rank, n_heads * self.qk_head_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(d_model, kv_lora_rank + qk_rope_head_dim, bias=bias)
        self.kv_a_layernorm = RMSNorm(kv_lora_rank, norm_eps)
        self.kv_b_proj = nn.Linear(kv_lora_rank, n_heads * (qk_nope_head_dim + v_head_dim), bias=False)
        self.o_proj = nn.Linear(n_heads * v_head_dim, d_model, bias=bias)

    def rotate(self, x, position_embeddings):
        if position_embeddings is None:
            return x
        if self.rope_interleave:                      # pairs (0, 1), (2, 3), ... -> halves [0, 2, ...; 1, 3, ...]
            x = torch.cat([x[..., 0::2], x[..., 1::2]], dim=-1)
        return apply_rotary(x, *position_embeddings)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> KVCache:
        """A cache of the normalized latent (as keys) and the rotated shared rope key (as values): one "head"."""
        weight = self.kv_b_proj.weight
        return KVCache(batch_size, 1, max_len, self.kv_lora_rank, self.rope, dtype=dtype or weight.dtype,
                       device=device or weight.device)

    def forward(self, x, position_embeddings=None, attention_mask=None, cache=None, absorb: bool = False):
        """x (batch, seq, d_model) -> (batch, seq, d_model); `absorb` attends in latent space (same result)."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"expected x of shape (batch, seq, d_model={self.d_model}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        q = self.q_proj(x) if self.q_lora_rank is None else self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        q_nope, q_rope = q.view(B, T, self.n_heads, self.qk_head_dim).transpose(1, 2).split([self.nope, self.rope], -1)
        latent, k_rope = self.kv_a_proj_with_mqa(x).split([self.kv_lora_rank, self.rope], dim=-1)
        latent, k_rope = self.kv_a_layernorm(latent)[:, None], k_rope[:, None]     # (B, 1, T, r), (B, 1, T, d_R)
        q_rope, k_rope = self.rotate(q_rope, position_embeddings), self.rotate(k_rope, position_embeddings)
        q_positions = k_positions = None
        if cache is not None:
            q_positions = torch.arange(cache.pos, cache.pos + T, device=x.device)
            latent, k_rope, k_positions = cache.update(latent, k_rope)
        args = dict(mask=attention_mask, q_positions=q_positions, k_positions=k_positions, scale=self.softmax_scale)
        out = self.attend_absorbed(q_nope, q_rope, latent, k_rope, args) if absorb else \
            self.attend_expanded(q_nope, q_rope, latent, k_rope, args)            # (B, n_heads, T, v_head_dim)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1))

    def attend_expanded(self, q_nope, q_rope, latent, k_rope, args):
        """kv_b_proj expands every cached latent into per-head keys and values, then ordinary attention."""
        B, _, S, _ = latent.shape
        kv = self.kv_b_proj(latent[:, 0]).view(B, S, self.n_heads, self.nope + self.v_head_dim).transpose(1, 2)
        k_nope, v = kv.split([self.nope, self.v_head_dim], dim=-1)
        k = torch.cat([k_nope, k_rope.expand(-1, self.n_heads, -1, -1)], dim=-1)
        return attend(torch.cat([q_nope, q_rope], dim=-1), k, v, **args)

    def attend_absorbed(self, q_nope, q_rope, latent, k_rope, args):
        """W_UK folded into the query and W_UV into the output: MQA over the latents, key width r + d_R."""
        w_uk, w_uv = self.kv_b_proj.weight.view(self.n_heads, self.nope + self.v_head_dim, self.kv_lora_rank).split(
            [self.nope, self.v_head_dim], dim=1)                                 # (H, nope, r), (H, v, r)
        q_latent = torch.einsum("bhtd,hdr->bhtr", q_nope, w_uk)                   # (B, H, T, r)
        out_latent = attend(torch.cat([q_latent, q_rope], -1), torch.cat([latent, k_rope], -1), latent, **args)
        return torch.einsum("bhtr,hvr->bhtv", out_latent, w_uv)                   # (B, H, T, v_head_dim)


def attention_heatmap_png(weights: torch.Tensor, query: int, title: str = "") -> bytes:
    """PNG of a (q_len, k_len) weight matrix with the row `query` outlined."""
    import io

    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    image = ax.imshow(weights.detach().float().cpu().numpy(), cmap="viridis", vmin=0)
    ax.add_patch(Rectangle((-0.5, query - 0.5), weights.shape[1], 1, fill=False, edgecolor="red", linewidth=1.5))
    ax.set(xlabel="key position", ylabel="query position", title=title)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def highlight_tokens_html(tokens: list[str], weights: torch.Tensor, query: int) -> str:
    """HTML of the tokens, each shaded by its weight (relative to the largest); the query token boxed."""
    import html
    top = float(weights.max()) or 1.0
    spans = []
    for j, (token, w) in enumerate(zip(tokens, weights.tolist())):
        border = "2px solid red" if j == query else "1px solid transparent"
        spans.append(f'<span title="key {j}: weight {w:.3f}" style="background:rgba(255,120,0,{w / top:.2f});'
                     f'border:{border};white-space:pre;padding:0 1px">{html.escape(token)}</span>')
    return f'<div style="font-family:monospace;line-height:1.8">{"".join(spans)}</div>'


def attention_explorer(weights: torch.Tensor, tokens: list[str], head: int = 0, query: int | None = None):
    """Sliders for head and query over `weights` (heads, seq, seq); a heatmap and highlighted tokens (ipywidgets 7/8)."""
    import ipywidgets as widgets
    if weights.dim() != 3 or weights.shape[1] != weights.shape[2] or weights.shape[2] != len(tokens):
        raise ValueError(f"weights must be (heads, seq, seq) with seq = {len(tokens)} tokens, got {tuple(weights.shape)}")
    n_heads, seq = weights.shape[0], weights.shape[1]
    head_slider = widgets.IntSlider(value=head, min=0, max=n_heads - 1, description="head")
    query_slider = widgets.IntSlider(value=seq - 1 if query is None else query, min=0, max=seq - 1, description="query")
    heatmap, text = widgets.Image(format="png"), widgets.HTML()

    def redraw(_=None):
        h, i = head_slider.value, query_slider.value
        heatmap.value = attention_heatmap_png(weights[h], i, title=f"head {h}")
        text.value = highlight_tokens_html(tokens, weights[h, i], i)

    head_slider.observe(redraw, names="value")
    query_slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([head_slider, query_slider]), heatmap, text])
