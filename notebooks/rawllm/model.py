# Generated from notebooks/04_transformer.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""The decoder-only transformer of Llama, Mistral and Qwen, and Hugging Face checkpoints both ways (notebook 04)."""
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from rawllm.attention import MultiHeadAttention, RMSNorm
from rawllm.core import atomic_write
from rawllm.rope import check_rope_parameters, rope_frequencies


class SwiGLU(nn.Module):
    """down_proj(silu(gate_proj(x)) * up_proj(x)): (..., d_model) -> (..., d_model), hidden width d_ff."""

    def __init__(self, d_model: int, d_ff: int, bias: bool = False):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.up_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.down_proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def swiglu_hidden_size(d_model: int, multiple_of: int = 64) -> int:
    """Llama's rule: 8/3 d_model (the parameters of a 4 d_model two-matrix FFN), rounded up to `multiple_of`."""
    return multiple_of * math.ceil(8 * d_model / 3 / multiple_of)


class Block(nn.Module):
    """Pre-norm decoder block: x + attention(norm(x)), then + mlp(norm(.)); (batch, seq, d_model) both ways."""

    def __init__(self, config: "ModelConfig", layer_idx: int):
        super().__init__()
        c = config                                       # submodules in Hugging Face's order
        self.self_attn = MultiHeadAttention(c.d_model, c.n_heads, c.n_kv_heads, c.head_dim, qk_norm=c.qk_norm,
                                            bias=c.qkv_bias, o_bias=c.o_bias, sliding_window=c.window(layer_idx),
                                            norm_eps=c.norm_eps, attn_implementation=c.attn_implementation)
        self.mlp = SwiGLU(c.d_model, c.d_ff, bias=c.mlp_bias)
        self.input_layernorm = RMSNorm(c.d_model, c.norm_eps)
        self.post_attention_layernorm = RMSNorm(c.d_model, c.norm_eps)

    def forward(self, x, position_embeddings, attention_mask=None, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), position_embeddings, attention_mask=attention_mask, cache=cache)
        return x + self.mlp(self.post_attention_layernorm(x))


LAYER_TYPES = ("full_attention", "sliding_attention")


@dataclass
class ModelConfig:
    """The architecture of a decoder-only transformer; None fields get their usual defaults."""
    vocab_size: int = 4096
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    n_kv_heads: int | None = None            # None: n_heads (multi-head); fewer: grouped-query attention
    head_dim: int | None = None              # None: d_model // n_heads
    d_ff: int | None = None                  # None: swiglu_hidden_size(d_model)
    max_seq_len: int = 1024                  # the context length: positions 0 .. max_seq_len - 1
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None         # rope_parameters of a scaled RoPE (linear, llama3, yarn), or None
    norm_eps: float = 1e-6
    tie_embeddings: bool = False             # lm_head shares the embedding matrix
    qkv_bias: bool = False                   # biases on q_proj, k_proj, v_proj (Qwen2)
    o_bias: bool = False                     # bias on o_proj
    mlp_bias: bool = False
    qk_norm: bool = False                    # RMSNorm on each query and key head (Qwen3)
    sliding_window: int | None = None        # window of the sliding_attention layers
    layer_types: list[str] | None = None     # per layer, full_attention or sliding_attention; None: all alike
    init_std: float = 0.02
    model_type: str = "llama"                # the Hugging Face family save_pretrained writes
    attn_implementation: str = "sdpa"        # "eager" (notebook 02's kernel) or "sdpa" (PyTorch's fused one)
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    residual: str = "pre_norm"               # pre_norm, post_norm, deepnorm or parallel (a later section)
    layer_scale_init: float | None = None    # LayerScale: a learned per-channel scale on each branch, from this
    drop_path: float = 0.0                   # stochastic depth: the chance a branch is dropped, per sample

    def __post_init__(self):
        self.n_kv_heads = self.n_kv_heads or self.n_heads
        if self.head_dim is None:
            if self.d_model % self.n_heads:
                raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; set head_dim")
            self.head_dim = self.d_model // self.n_heads
        self.d_ff = self.d_ff or swiglu_hidden_size(self.d_model)
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads={self.n_heads} must be a multiple of n_kv_heads={self.n_kv_heads}")
        if self.layer_types is not None:
            self.layer_types = list(self.layer_types)
        check_layer_types(self.kinds(), self.n_layers, self.sliding_window)
        self.rope_scaling = check_rope_support(self.head_dim, self.rope_theta, self.rope_scaling)
        check_residual(self.residual, self.layer_scale_init, self.drop_path)

    def kinds(self) -> list[str]:
        """The attention type of every layer: layer_types, or all sliding when only sliding_window is set."""
        if self.layer_types is not None:
            return self.layer_types
        return ["full_attention" if self.sliding_window is None else "sliding_attention"] * self.n_layers

    def window(self, layer_idx: int) -> int | None:
        return self.sliding_window if self.kinds()[layer_idx] == "sliding_attention" else None


RESIDUALS = ("pre_norm", "post_norm", "deepnorm", "parallel")


def check_residual(residual: str, layer_scale_init, drop_path: float) -> None:
    if residual not in RESIDUALS:
        raise ValueError(f"residual={residual!r}: choose one of {RESIDUALS}")
    if layer_scale_init is not None and not layer_scale_init > 0:
        raise ValueError(f"layer_scale_init={layer_scale_init} must be positive (or None: no LayerScale)")
    if not 0 <= drop_path < 1:
        raise ValueError(f"drop_path={drop_path} must lie in [0, 1): the chance that a branch is dropped")


def plain_residual(config) -> bool:
    """True for the Llama block (pre-norm, no LayerScale, no DropPath): the path transformers shares."""
    return config.residual == "pre_norm" and config.layer_scale_init is None and config.drop_path == 0


def check_layer_types(layer_types: list, n_layers: int, sliding_window) -> None:
    if len(layer_types) != n_layers or not set(layer_types) <= set(LAYER_TYPES):
        raise ValueError(f"layer_types must list {n_layers} entries from {LAYER_TYPES}, got {layer_types}")
    if "sliding_attention" in layer_types and not sliding_window:
        raise ValueError("layer_types has sliding_attention layers but sliding_window is not set")


def check_rope_support(head_dim: int, theta: float, scaling: dict | None) -> dict | None:
    """Notebook 03's validation, plus the two RoPE variants this model does not implement; returns the scaling
    dict in its standard form (rope_type set, no rope_theta), or None for plain RoPE."""
    params, rotary_dim = check_rope_parameters(head_dim, theta, scaling)
    if params["rope_type"] == "dynamic":
        raise ValueError("rope_type 'dynamic' is not supported: its frequencies change with the sequence length, "
                         "so a table cannot be shared by the cache; supported: default, linear, llama3, yarn")
    if rotary_dim != head_dim:
        raise ValueError(f"partial rotary embeddings (rotary dim {rotary_dim} < head_dim {head_dim}) are not supported")
    params.pop("rope_theta", None)
    return None if params["rope_type"] == "default" else params


class Decoder(nn.Module):
    """Hugging Face's `model` submodule: embed_tokens, layers (built by `block(config, index)`), norm."""

    def __init__(self, config: ModelConfig, block=Block):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(block(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)


def check_input_ids(input_ids: torch.Tensor, config: ModelConfig, start_pos: int) -> None:
    """Shape, dtype and context length always; the id values only on the CPU, where reading them is free (on a GPU,
    `.min()` in Python would make the host wait for the device at every step)."""
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"input_ids must be integer token ids of shape (batch, seq), got {input_ids.dtype} "
                         f"{tuple(input_ids.shape)}")
    if input_ids.device.type == "cpu" and input_ids.numel() and (input_ids.min() < 0 or
                                                                 input_ids.max() >= config.vocab_size):
        bad = input_ids[(input_ids < 0) | (input_ids >= config.vocab_size)]
        raise ValueError(f"token ids {bad.unique()[:8].tolist()} are outside the vocabulary 0 .. {config.vocab_size - 1}")
    end = start_pos + input_ids.shape[1]
    if end > config.max_seq_len:
        raise ValueError(f"{input_ids.shape[1]} tokens from position {start_pos} reach position {end - 1}, past the "
                         f"model's context of max_seq_len={config.max_seq_len} positions")


def check_cache(cache: list, n_layers: int) -> int:
    """The common write position of a per-layer cache list."""
    if len(cache) != n_layers:
        raise ValueError(f"the cache has {len(cache)} layers, the model {n_layers}: make it with model.new_cache")
    positions = {layer_cache.pos for layer_cache in cache}
    if len(positions) != 1:
        raise ValueError(f"the layers' caches are at different positions {sorted(positions)}")
    return positions.pop()


def rotary_tables(inv_freq: torch.Tensor, attention_factor: float, positions: torch.Tensor):
    """(cos, sin) in float32 for integer `positions` (seq,) or (batch, seq): each (..., head_dim), half-split."""
    angles = positions.to(inv_freq.device).float()[..., None] * inv_freq              # (..., head_dim / 2)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos() * attention_factor, angles.sin() * attention_factor


def check_mask_and_positions(attention_mask, position_ids, input_shape, n_cached: int) -> None:
    """Clear errors for an attention_mask that is not (batch, cached + seq) or position_ids that are not (batch, seq)."""
    B, T = input_shape
    if attention_mask is not None and (attention_mask.dim() != 2 or tuple(attention_mask.shape) != (B, n_cached + T)):
        raise ValueError(f"attention_mask must be (batch, cached + new tokens) = ({B}, {n_cached} + {T}) of 1 (real) "
                         f"and 0 (padding), got shape {tuple(attention_mask.shape)}")
    if position_ids is not None:
        if position_ids.dim() != 2 or position_ids.shape[0] not in (1, B) or position_ids.shape[1] != T:
            raise ValueError(f"position_ids must be (batch, seq) = ({B}, {T}) (or (1, {T})), got shape "
                             f"{tuple(position_ids.shape)}")
        if position_ids.dtype.is_floating_point or position_ids.dtype == torch.bool:
            raise ValueError(f"position_ids must be integers, got {position_ids.dtype}")


def check_forward_inputs(config: ModelConfig, input_ids, attention_mask, position_ids, cache, start_pos) -> tuple:
    """(n_cached, start): the cache's write position and the position of the first new token, after every check
    of the forward pass's arguments (ids, cache, start_pos, attention_mask, position_ids)."""
    n_cached = 0 if cache is None else check_cache(cache, config.n_layers)
    if start_pos is not None and cache is not None and start_pos != n_cached:
        raise ValueError(f"start_pos={start_pos} but the cache holds {n_cached} positions")
    start = n_cached if start_pos is None else start_pos
    check_input_ids(input_ids, config, start)
    check_mask_and_positions(attention_mask, position_ids, input_ids.shape, n_cached)
    return n_cached, start


def document_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """(batch, seq): the index of the document each token belongs to. A document starts wherever the position does
    not follow the previous token's by one, as when several documents are packed in a row, each from position 0."""
    step = torch.diff(position_ids, dim=-1, prepend=position_ids[:, :1] - 1)
    return (step != 1).cumsum(dim=-1)


def build_attention_mask(attention_mask, position_ids, n_cached: int, n_new: int):
    """(batch, 1, n_new, n_cached + n_new) bool, True where a new token may attend to a key, before causality
    (which the attention layers add): the key is a real token (attention_mask) and, when nothing is cached, in
    the query's document (position_ids). A token always sees itself, so that no row is entirely masked (a padding
    query would get NaN from SDPA). None when both are None: plain causal attention, SDPA's fast path."""
    if attention_mask is None and position_ids is None:
        return None
    device = (attention_mask if attention_mask is not None else position_ids).device
    n_keys = n_cached + n_new
    allowed = torch.ones(1, 1, n_new, n_keys, dtype=torch.bool, device=device)
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, None, :]                    # keys that are real tokens
    if position_ids is not None and n_cached == 0:
        docs = document_ids(position_ids)
        allowed = allowed & (docs[:, None, :, None] == docs[:, None, None, :])          # same document
    itself = torch.arange(n_keys, device=device) == torch.arange(n_cached, n_keys, device=device)[:, None]
    return allowed | itself


class Transformer(nn.Module):
    """Decoder-only transformer: model(input_ids (batch, seq)) -> logits (batch, seq, vocab_size);
    model.hidden_states(...) -> the final hidden states (batch, seq, d_model) that the head reads."""

    block = Block                                 # the layer class; a subclass may swap in another

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if not plain_residual(config) and self.block is not Block:
            raise ValueError(f"residual={config.residual!r}, layer_scale_init, drop_path: the residual variants "
                             f"are written for the dense Block, not {self.block.__name__}")
        self.model = Decoder(config, self.block if plain_residual(config) else VariantBlock)   # (a later section)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.gradient_checkpointing = False
        self._inv_freq = {}                       # device -> float32 inverse frequencies
        self.tie_weights()
        init_weights(self, config.init_std)
        if not plain_residual(config):
            init_variant(self)

    def tie_weights(self) -> None:
        if self.config.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def position_embeddings(self, positions: torch.Tensor, device):
        """The rotary tables (cos, sin) for integer positions (seq,) or (batch, seq)."""
        if device not in self._inv_freq:
            c = self.config
            inv_freq, factor = rope_frequencies(c.head_dim, c.rope_theta, c.rope_scaling)
            self._inv_freq[device] = (inv_freq.to(device), factor)
        return rotary_tables(*self._inv_freq[device], positions)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      position_ids: torch.Tensor | None = None, cache: list | None = None,
                      start_pos: int | None = None) -> torch.Tensor:
        """The final hidden states (batch, seq, d_model): every block and the last norm, without the head.
        attention_mask (batch, cached + seq): 1 on real tokens, 0 on padding. position_ids (batch, seq): the
        tokens' positions, by default start .. start + seq - 1; where they do not step by one, a new document
        starts and no token attends across the boundary. With a cache, input_ids follow the cached tokens."""
        n_cached, start = check_forward_inputs(self.config, input_ids, attention_mask, position_ids, cache, start_pos)
        mask = build_attention_mask(attention_mask, position_ids, n_cached, input_ids.shape[1])  # None: plain causal
        if position_ids is None:
            position_ids = torch.arange(start, start + input_ids.shape[1], device=input_ids.device)
        x = self.model.embed_tokens(input_ids)                              # (B, T, d_model)
        rope = self.position_embeddings(position_ids, x.device)
        checkpointing = self.gradient_checkpointing and self.training and cache is None and torch.is_grad_enabled()
        for i, layer in enumerate(self.model.layers):
            if checkpointing:
                x = checkpoint(layer, x, rope, mask, use_reentrant=False)
            else:
                x = layer(x, rope, attention_mask=mask, cache=None if cache is None else cache[i])
        return self.model.norm(x)                                           # (B, T, d_model)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, cache: list | None = None,
                start_pos: int | None = None) -> torch.Tensor:
        """Logits (batch, seq, vocab_size): lm_head(hidden_states(...)), with hidden_states' arguments."""
        return self.lm_head(self.hidden_states(input_ids, attention_mask, position_ids, cache, start_pos))

    def new_cache(self, batch_size: int, max_len: int | None = None) -> list:
        """One empty KV cache per layer (rolling over the window in sliding layers), for max_len positions."""
        return [layer.self_attn.new_cache(batch_size, max_len or self.config.max_seq_len) for layer in self.model.layers]

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (a tied head is counted once); optionally without the embedding matrix."""
        params = {id(p): p for p in self.parameters()}
        if exclude_embeddings:
            params.pop(id(self.model.embed_tokens.weight))
        return sum(p.numel() for p in params.values())

    @classmethod
    def from_pretrained(cls, path, dtype: torch.dtype | None = None) -> "Transformer":
        """Load a Hugging Face folder (config.json and safetensors) of a Llama, Mistral, Qwen2 or Qwen3 model, or of
        a family a later module registers in PRETRAINED_FAMILIES (after `import rawllm.moe`: Mixtral, Qwen3-MoE,
        DeepSeek-V3)."""
        return load_pretrained(path, dtype)

    def save_pretrained(self, path) -> None:
        """Write config.json and model.safetensors that transformers' AutoModelForCausalLM loads."""
        write_pretrained(self, path)


def init_weights(model: nn.Module, std: float = 0.02) -> None:
    """N(0, std) for matrices and embeddings, std / sqrt(2 n_layers) for the residual projections, 1 for norms, 0 for biases."""
    n_layers = len(model.model.layers)
    for name, param in model.named_parameters():
        if name.endswith("norm.weight"):
            nn.init.ones_(param)
        elif name.endswith(".bias"):
            nn.init.zeros_(param)
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            nn.init.normal_(param, 0.0, std / math.sqrt(2 * n_layers))
        else:
            nn.init.normal_(param, 0.0, std)


def parameter_counts(model: Transformer) -> dict:
    """Parameters by part: embedding, attention, mlp, norms, lm_head (0 when tied), total."""
    counts = dict.fromkeys(("embedding", "attention", "mlp", "norms", "lm_head"), 0)
    seen = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in seen:
            continue
        seen.add(id(param))
        part = ("embedding" if "embed_tokens" in name else "lm_head" if name.startswith("lm_head")
                else "norms" if "norm" in name else "attention" if "self_attn" in name else "mlp")
        counts[part] += param.numel()
    counts["total"] = sum(counts.values())
    return counts


def matmul_parameters(config: ModelConfig) -> int:
    """Weights used in matrix products per token: the blocks' projections and the head (tied or not)."""
    c = config
    attention = c.d_model * c.head_dim * (2 * c.n_heads + 2 * c.n_kv_heads)
    return c.n_layers * (attention + 3 * c.d_model * c.d_ff) + c.d_model * c.vocab_size


def mean_visible_keys(seq_len: int, window: int | None) -> float:
    """Average number of keys a causal query sees over positions 0 .. seq_len - 1, with an optional window."""
    w = seq_len if window is None else min(window, seq_len)
    return (w * (w + 1) / 2 + (seq_len - w) * w) / seq_len


def training_flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """FLOPs of one forward + backward pass per token on sequences of seq_len tokens: 6N + causal attention."""
    c = config
    attention = sum(12 * c.n_heads * c.head_dim * mean_visible_keys(seq_len, c.window(i)) for i in range(c.n_layers))
    return 6 * matmul_parameters(c) + attention


@torch.no_grad()
def greedy_decode(model: Transformer, input_ids: torch.Tensor, max_new_tokens: int, eos_token_id=None,
                  use_cache: bool = True) -> torch.Tensor:
    """Append max_new_tokens argmax tokens to input_ids (batch, prompt): (batch, prompt + new), or fewer
    when every sequence has produced eos_token_id (an int or a list). use_cache=False recomputes everything."""
    cache = model.new_cache(input_ids.shape[0], input_ids.shape[1] + max_new_tokens) if use_cache else None
    tokens, step_input = input_ids, input_ids
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    eos = None if eos_token_id is None else torch.tensor(eos_token_id, device=input_ids.device).flatten()
    for _ in range(max_new_tokens):
        logits = model(step_input, cache=cache) if use_cache else model(tokens)
        next_token = logits[:, -1].argmax(dim=-1)                         # (batch,)
        if eos is not None:
            next_token = torch.where(done, eos[0], next_token)
            done |= torch.isin(next_token, eos)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        step_input = next_token[:, None]
        if eos is not None and done.all():
            break
    return tokens


SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
PRETRAINED_FAMILIES = {}        # model_type -> loader(folder, dtype) registered by a later module (rawllm.moe)
MOE_MODEL_TYPES = ("mixtral", "qwen3_moe", "deepseek_v3")     # the families rawllm.moe registers
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
                 "qwen3": "Qwen3ForCausalLM"}
REQUIRED_HF_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")


def hf_rope(hf: dict) -> tuple[float, dict | None]:
    """(rope_theta, rope_scaling or None) from rope_parameters, or from the legacy rope_theta / rope_scaling."""
    params = hf.get("rope_parameters")
    if params is None:
        params = dict(hf.get("rope_scaling") or {}, rope_theta=hf.get("rope_theta", 10000.0))
    if any(isinstance(value, dict) for value in params.values()):
        raise ValueError(f"per-layer-type rope_parameters ({', '.join(params)}) are not supported")
    params = dict(params)
    theta = params.pop("rope_theta", hf.get("rope_theta", 10000.0))
    rope_type = params.setdefault("rope_type", params.pop("type", "default"))
    if params.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0)) != 1.0:
        raise ValueError("partial_rotary_factor != 1 (partial rotary embeddings) is not supported")
    params.pop("partial_rotary_factor", None)
    if rope_type == "yarn" and params.get("original_max_position_embeddings") is None:
        params["original_max_position_embeddings"] = hf.get("max_position_embeddings")
    return float(theta), (None if rope_type == "default" else params)


def hf_layer_types(hf: dict, model_type: str) -> tuple[int | None, list[str] | None]:
    """(sliding_window, layer_types) of a Hugging Face config."""
    n_layers, window = hf["num_hidden_layers"], hf.get("sliding_window")
    if model_type == "llama":
        return None, None
    if model_type == "mistral":
        return window, None
    if not hf.get("use_sliding_window", False) or window is None:
        return None, None
    layer_types = hf.get("layer_types") or ["sliding_attention" if i >= hf.get("max_window_layers", n_layers)
                                            else "full_attention" for i in range(n_layers)]
    return window, layer_types


def config_from_hf(hf: dict) -> ModelConfig:
    """A ModelConfig from the dict of a Hugging Face config.json; clear errors for what is not supported."""
    model_type = hf.get("model_type")
    if model_type in MOE_MODEL_TYPES:
        raise ValueError(f"model_type {model_type!r} is a mixture of experts: `import rawllm.moe` (notebook 05) "
                         "registers it with Transformer.from_pretrained")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"model_type {model_type!r} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
    missing = [name for name in REQUIRED_HF_FIELDS if hf.get(name) is None]
    if missing:
        raise ValueError(f"config.json lacks {', '.join(missing)}")
    unsupported = {"hidden_act": hf.get("hidden_act", "silu") != "silu",
                   "quantization_config": "quantization_config" in hf,
                   "pretraining_tp": hf.get("pretraining_tp", 1) != 1}
    if any(unsupported.values()):
        raise ValueError("unsupported config features: " + ", ".join(
            f"{name}={hf.get(name)!r}" for name, bad in unsupported.items() if bad))
    theta, scaling = hf_rope(hf)
    window, layer_types = hf_layer_types(hf, model_type)
    bias = bool(hf.get("attention_bias", False)) and model_type in ("llama", "qwen3")
    return ModelConfig(
        vocab_size=hf["vocab_size"], d_model=hf["hidden_size"], n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"], n_kv_heads=hf.get("num_key_value_heads"),
        head_dim=hf.get("head_dim") or (128 if model_type == "qwen3" else None), d_ff=hf["intermediate_size"],
        max_seq_len=hf.get("max_position_embeddings", 2048), rope_theta=theta, rope_scaling=scaling,
        norm_eps=hf.get("rms_norm_eps", 1e-6), tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        qkv_bias=bias or model_type == "qwen2", o_bias=bias, qk_norm=model_type == "qwen3",
        mlp_bias=bool(hf.get("mlp_bias", False)) and model_type == "llama",
        sliding_window=window, layer_types=layer_types, init_std=hf.get("initializer_range", 0.02),
        model_type=model_type, bos_token_id=hf.get("bos_token_id"), eos_token_id=hf.get("eos_token_id"))


def read_safetensors(folder: Path) -> dict:
    """Every tensor of model.safetensors, or of the shards named by model.safetensors.index.json."""
    from safetensors.torch import load_file
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.is_file():
        return load_file(single)
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(load_file(folder / shard))
        return tensors
    raise FileNotFoundError(f"no model.safetensors or model.safetensors.index.json in {folder} "
                            "(pickled pytorch_model.bin checkpoints are not read)")


def check_checkpoint(model: Transformer, tensors: dict) -> dict:
    """The tensors the model takes, or a ValueError listing missing, unexpected and mis-shaped keys."""
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    tensors = {k: v for k, v in tensors.items() if not k.endswith("rotary_emb.inv_freq")}
    if model.config.tie_embeddings:
        expected.pop("lm_head.weight")
        tensors.pop("lm_head.weight", None)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    misshaped = [f"{k}: checkpoint {tuple(tensors[k].shape)}, config {expected[k]}"
                 for k in sorted(set(expected) & set(tensors)) if tuple(tensors[k].shape) != expected[k]]
    if missing or unexpected or misshaped:
        def listing(title, names):
            return f"\n  {title} ({len(names)}): " + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise ValueError("the checkpoint does not match the config:" + "".join(
            listing(title, names) for title, names in [("missing", missing), ("unexpected", unexpected),
                                                       ("mis-shaped", misshaped)] if names))
    return tensors


def load_pretrained(path, dtype: torch.dtype | None = None) -> Transformer:
    """Transformer.from_pretrained: a Hugging Face folder to our model, in `dtype` (default: the stored one)."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}")
    hf = json.loads((folder / "config.json").read_text())
    if hf.get("model_type") in PRETRAINED_FAMILIES:
        return PRETRAINED_FAMILIES[hf["model_type"]](folder, dtype)
    config = config_from_hf(hf)
    with torch.device("meta"):
        model = Transformer(config)
    tensors = check_checkpoint(model, read_safetensors(folder))
    dtype = dtype or tensors["model.embed_tokens.weight"].dtype
    for name in tensors:                                 # fresh, aligned memory: faster matmuls than file buffers
        tensors[name] = tensors[name].to(dtype, copy=True)
    model.load_state_dict(tensors, strict=False, assign=True)
    model.tie_weights()
    return model.eval()


def hf_config(config: ModelConfig, dtype: torch.dtype = torch.float32) -> dict:
    """The config.json dict of `config` in its model_type's layout; ValueError if that family cannot express it."""
    c = config
    if c.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(f"model_type {c.model_type!r} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
    hf = dict(architectures=[ARCHITECTURES[c.model_type]], model_type=c.model_type, vocab_size=c.vocab_size,
              hidden_size=c.d_model, intermediate_size=c.d_ff, num_hidden_layers=c.n_layers,
              num_attention_heads=c.n_heads, num_key_value_heads=c.n_kv_heads, head_dim=c.head_dim,
              max_position_embeddings=c.max_seq_len, rms_norm_eps=c.norm_eps, hidden_act="silu",
              tie_word_embeddings=c.tie_embeddings, initializer_range=c.init_std, bos_token_id=c.bos_token_id,
              eos_token_id=c.eos_token_id, dtype=str(dtype).removeprefix("torch."),
              rope_parameters={"rope_type": "default", **(c.rope_scaling or {}), "rope_theta": c.rope_theta})
    if c.model_type in ("llama", "qwen3"):
        hf["attention_bias"] = c.qkv_bias
    if c.model_type == "llama":
        hf["mlp_bias"] = c.mlp_bias
    if c.model_type == "mistral":
        hf["sliding_window"] = c.sliding_window
    if c.model_type in ("qwen2", "qwen3"):
        sliding = [t == "sliding_attention" for t in c.kinds()]
        hf.update(sliding_window=c.sliding_window, use_sliding_window=any(sliding), layer_types=c.kinds(),
                  max_window_layers=sliding.index(True) if any(sliding) else c.n_layers)
    back = config_from_hf(hf)
    differences = [f"{f.name}={getattr(c, f.name)!r}" for f in fields(c) if f.name not in ("attn_implementation",
                   "layer_types", "sliding_window") and getattr(c, f.name) != getattr(back, f.name)]
    if [c.window(i) for i in range(c.n_layers)] != [back.window(i) for i in range(c.n_layers)]:
        differences.append(f"sliding_window={c.sliding_window} with layer_types={c.kinds()}")
    if differences:
        raise ValueError(f"model_type {c.model_type!r} cannot express {', '.join(differences)}; "
                         f"choose another model_type (one of {', '.join(SUPPORTED_MODEL_TYPES)})")
    return hf


def checkpoint_tensors(model: Transformer) -> dict:
    """The state dict as a checkpoint holds it: detached, contiguous, without lm_head.weight when it is tied."""
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        tensors.pop("lm_head.weight")
    return tensors


def write_hf_folder(path, tensors: dict, config: dict) -> None:
    """model.safetensors and config.json into a folder, each written atomically (temporary file, then rename)."""
    from safetensors.torch import save_file
    folder = Path(path)
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    atomic_write(folder / "config.json", lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n"))


def write_pretrained(model: Transformer, path) -> None:
    """Transformer.save_pretrained: config.json and model.safetensors in the Hugging Face layout."""
    tensors = checkpoint_tensors(model)
    write_hf_folder(path, tensors, hf_config(model.config, tensors["model.embed_tokens.weight"].dtype))


def deepnorm_constants(n_layers: int) -> tuple[float, float]:
    """DeepNet's (alpha, beta) for a decoder-only model of n_layers blocks: alpha = (2N)^(1/4) scales the residual
    before each post-norm, beta = (8N)^(-1/4) is the Xavier gain of v_proj, o_proj and the MLP at init."""
    return (2 * n_layers) ** 0.25, (8 * n_layers) ** -0.25


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: in training, zero the whole branch output x (batch, ...) of each sample with chance p and
    divide the kept ones by 1 - p, so that the expected value is x; the identity in eval mode."""
    if p == 0 or not training:
        return x
    keep = torch.rand(x.shape[0], *[1] * (x.dim() - 1), device=x.device) >= p      # one draw per sample
    return x * keep.to(x.dtype) / (1 - p)


class VariantBlock(Block):
    """Block with the residual variants of ModelConfig: residual = post_norm (norm(x + f(x))), deepnorm
    (norm(alpha x + f(x))), parallel (x + attn(norm(x)) + mlp(norm(x)), one norm) or pre_norm; LayerScale
    (branch * gamma, gamma a learned (d_model,) vector) and DropPath on each branch."""

    def __init__(self, config: "ModelConfig", layer_idx: int):
        super().__init__(config, layer_idx)
        self.residual, self.drop = config.residual, config.drop_path
        self.alpha = deepnorm_constants(config.n_layers)[0] if config.residual == "deepnorm" else 1.0
        if config.residual == "parallel":
            self.post_attention_layernorm = None                     # both branches read input_layernorm(x)
        scale = config.layer_scale_init
        self.attn_layer_scale = nn.Parameter(torch.full((config.d_model,), scale)) if scale else None
        self.mlp_layer_scale = nn.Parameter(torch.full((config.d_model,), scale)) if scale else None

    def branch(self, out: torch.Tensor, layer_scale) -> torch.Tensor:
        """What a branch adds to the stream: LayerScale, then DropPath."""
        return drop_path(out if layer_scale is None else out * layer_scale, self.drop, self.training)

    def forward(self, x, position_embeddings, attention_mask=None, cache=None):
        def attn(h):
            return self.branch(self.self_attn(h, position_embeddings, attention_mask=attention_mask, cache=cache),
                               self.attn_layer_scale)
        if self.residual == "pre_norm":
            x = x + attn(self.input_layernorm(x))
            return x + self.branch(self.mlp(self.post_attention_layernorm(x)), self.mlp_layer_scale)
        if self.residual == "parallel":
            h = self.input_layernorm(x)                              # one normed input feeds both branches
            return x + attn(h) + self.branch(self.mlp(h), self.mlp_layer_scale)
        x = self.input_layernorm(self.alpha * x + attn(x))           # post_norm (alpha = 1) and deepnorm
        return self.post_attention_layernorm(self.alpha * x + self.branch(self.mlp(x), self.mlp_layer_scale))


def init_variant(model) -> None:
    """After init_weights: LayerScale vectors at layer_scale_init; with deepnorm, DeepNet's Xavier-normal init,
    gain beta for v_proj, o_proj and the MLP's three matrices, gain 1 for q_proj and k_proj."""
    c = model.config
    beta = deepnorm_constants(c.n_layers)[1]
    for name, param in model.named_parameters():
        if name.endswith("layer_scale"):
            nn.init.constant_(param, c.layer_scale_init)
        elif c.residual == "deepnorm" and name.endswith(("q_proj.weight", "k_proj.weight")):
            nn.init.xavier_normal_(param, gain=1.0)
        elif c.residual == "deepnorm" and name.endswith(("v_proj.weight", "o_proj.weight", "proj.weight")):
            nn.init.xavier_normal_(param, gain=beta)                  # gate_proj, up_proj, down_proj too
