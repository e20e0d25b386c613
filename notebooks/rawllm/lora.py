# Generated from notebooks/09_lora_and_qlora.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Low-rank adapters from raw ops: LoRA, rsLoRA, DoRA and PiSSA, merged or not, in PEFT's file layout (notebook 09)."""
import contextlib
import json
import math
import re
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from rawllm.core import atomic_write


def optional_import(name: str):
    """The module `name`, or None and a note saying how to get it. The reference libraries (peft, bitsandbytes)
    are test requirements: the notebook's live comparisons with them run where they are installed."""
    import importlib
    import logging
    for logger in (name, "bitsandbytes"):                    # bitsandbytes (also imported by peft) warns about
        logging.getLogger(logger).setLevel(logging.ERROR)    # optional CPU kernels it did not find
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"{name} is not installed, so this comparison is skipped here: pip install -r tests/requirements.txt "
              f"(the tests always run it)")
        return None


def base_weight(base: nn.Module) -> torch.Tensor:
    """The (out, in) weight of a linear base layer: an nn.Linear's own, or a quantized layer's, dequantized."""
    return base.dequantize() if hasattr(base, "dequantize") else base.weight


def check_lora_args(r, alpha, dropout, init) -> None:
    """ValueError for a rank, alpha, dropout or initialisation LoRA cannot use."""
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise ValueError(f"the rank r must be a positive integer, got {r!r}")
    if not (isinstance(alpha, (int, float)) and alpha > 0):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
    if init not in LORA_INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {LORA_INITS}")


LORA_INITS = ("default", "pissa")    # A random and B zero, or A and B from the weight's top singular vectors


class LoRAParts(nn.Module):
    """What a LoRA layer holds: the frozen base, the adapters lora_A (r, in) and lora_B (out, r), their scale s
    (alpha / r, or alpha / sqrt(r) with rsLoRA) and, with DoRA, a trained magnitude per output row; and the
    weights they make. LoRALinear adds the forward pass."""

    def __init__(self, base: nn.Module, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False,
                 use_dora: bool = False, init: str = "default"):
        super().__init__()
        check_lora_args(r, alpha, dropout, init)
        weight = base_weight(base)
        self.base = base.requires_grad_(False)
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self.r, self.alpha, self.use_rslora, self.use_dora, self.init = r, alpha, use_rslora, use_dora, init
        self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
        # adapters train in float32 when the base is 16-bit or quantized (PEFT's autocast_adapter_dtype)
        dtype = weight.dtype if weight.dtype == torch.float64 else torch.float32
        self.lora_A = nn.Linear(self.in_features, r, bias=False, device=weight.device, dtype=dtype)
        self.lora_B = nn.Linear(r, self.out_features, bias=False, device=weight.device, dtype=dtype)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        init_adapter(self)
        self.lora_magnitude_vector = nn.Parameter(self.adapted_weight().norm(dim=1)) if use_dora else None
        self.merged, self.enabled, self.dora_factor = False, True, None

    @property
    def weight(self) -> torch.Tensor:
        """The base's weight (dequantized for a 4-bit base): code that reads `layer.weight` for its dtype or
        device, the KV cache of notebook 02 say, works on adapted layers too."""
        return base_weight(self.base)

    def delta_weight(self) -> torch.Tensor:
        """s B A, the (out, in) change the adapter makes to the weight."""
        return self.scaling * (self.lora_B.weight @ self.lora_A.weight)

    def adapted_weight(self) -> torch.Tensor:
        """W + s B A in the adapter's dtype."""
        return base_weight(self.base).to(self.lora_A.weight.dtype) + self.delta_weight()


class LoRALinear(LoRAParts):
    """y = base(x) + (alpha / r) B A x, the base frozen; alpha / sqrt(r) with rsLoRA. With DoRA the adapted weight
    W + s B A is split into a trained magnitude per output row and a direction of unit norm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.base(x)
        if self.merged or not self.enabled:
            return result
        h = self.dropout(x.to(self.lora_A.weight.dtype))
        if self.lora_magnitude_vector is not None:                          # DoRA, below
            return (result + dora_extra(self, h, result)).to(result.dtype)
        return (result + self.lora_B(self.lora_A(h)) * self.scaling).to(result.dtype)

    def merge(self) -> None:
        merge_layer(self)

    def unmerge(self) -> None:
        unmerge_layer(self)


@torch.no_grad()
def init_adapter(layer: LoRALinear) -> None:
    """A like nn.Linear's own init and B zero, so the adapter starts at 0; or PiSSA (below)."""
    if layer.init == "pissa":
        return pissa_init(layer)
    nn.init.kaiming_uniform_(layer.lora_A.weight, a=math.sqrt(5))
    nn.init.zeros_(layer.lora_B.weight)


def dora_extra(layer: LoRALinear, x: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """What DoRA adds to the base output `result`: (m / |W + s B A| - 1) W x + (m / |W + s B A|) s B A x, the norm
    per output row, detached from the graph (DoRA's section 4.3). With dropout, W x is recomputed on the dropped x."""
    weight = base_weight(layer.base).to(x.dtype)
    scale = layer.lora_magnitude_vector / (weight + layer.delta_weight().detach()).norm(dim=1).detach()
    if isinstance(layer.dropout, nn.Identity):
        bias = getattr(layer.base, "bias", None)
        base_result = result if bias is None else result - bias
    else:
        base_result = F.linear(x, weight)
    return (scale - 1) * base_result + scale * layer.lora_B(layer.lora_A(x)) * layer.scaling


@torch.no_grad()
def merged_weight(layer: LoRALinear) -> torch.Tensor:
    """The plain weight that gives the layer's output: W + s B A, or with DoRA m (W + s B A) / |W + s B A|."""
    weight = layer.adapted_weight()
    if layer.lora_magnitude_vector is not None:
        weight = weight * (layer.lora_magnitude_vector / weight.norm(dim=1)).unsqueeze(1)
    return weight


@torch.no_grad()
def merge_layer(layer: LoRALinear) -> None:
    """Fold the adapter into an nn.Linear base's weight in place; unmerge_layer takes it out again."""
    if layer.merged:
        return
    if not isinstance(layer.base, nn.Linear):
        raise TypeError(f"merge() changes the base weight in place, which a {type(layer.base).__name__} cannot "
                        f"hold; use merge_lora(model), which returns plain nn.Linear layers")
    if layer.lora_magnitude_vector is not None:
        layer.dora_factor = layer.lora_magnitude_vector / layer.adapted_weight().norm(dim=1)
    layer.base.weight.copy_(merged_weight(layer).to(layer.base.weight.dtype))
    layer.merged = True


@torch.no_grad()
def unmerge_layer(layer: LoRALinear) -> None:
    if not layer.merged:
        return
    weight = layer.base.weight
    if layer.dora_factor is not None:
        weight.copy_((weight / layer.dora_factor.unsqueeze(1) - layer.delta_weight()).to(weight.dtype))
        layer.dora_factor = None
    else:
        weight.sub_(layer.delta_weight().to(weight.dtype))
    layer.merged = False


@torch.no_grad()
def pissa_init(layer: LoRALinear) -> None:
    """PiSSA: B A starts as the top-r singular part of W, and the base keeps the residual W - s B A, so the
    layer's output is unchanged at step 0 but training moves the principal directions first."""
    if not isinstance(layer.base, nn.Linear):
        raise TypeError("PiSSA rewrites the base weight: initialise it on an nn.Linear before quantizing")
    weight = layer.base.weight
    U, S, Vh = torch.linalg.svd(weight.float(), full_matrices=False)     # W = U diag(S) Vh
    root = (S[:layer.r] / layer.scaling).sqrt()
    layer.lora_A.weight.copy_(root.unsqueeze(1) * Vh[:layer.r])            # (r, in)
    layer.lora_B.weight.copy_(U[:, :layer.r] * root)                       # (out, r)
    weight.copy_((weight.float() - layer.delta_weight()).to(weight.dtype))


def is_linear(module: nn.Module) -> bool:
    """What add_lora may wrap: an nn.Linear, or a layer that says it stands for one (NF4Linear)."""
    return isinstance(module, nn.Linear) or getattr(module, "is_linear", False)


def lora_targets(model: nn.Module, target_modules) -> list[str]:
    """The names of the linear layers `target_modules` picks, with PEFT's rule: a list matches a layer whose
    name is an entry or ends with '.' + an entry; a string is a regular expression the whole name must match."""
    linear = [n for n, m in model.named_modules() if is_linear(m)]      # add_lora refuses a model with adapters
    if isinstance(target_modules, str):
        names = [n for n in linear if re.fullmatch(target_modules, n)]
        missing = [] if names else [target_modules]
    else:
        targets = list(target_modules)
        names = [n for n in linear if any(n == t or n.endswith("." + t) for t in targets)]
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in linear)]
    if missing:
        kinds = sorted({n.rsplit(".", 1)[-1] for n in linear})
        raise ValueError(f"no linear layer matches target module(s) {missing}; this model's linear layers are "
                         f"named {kinds}")
    return names


def add_lora(model: nn.Module, target_modules=("q_proj", "v_proj"), r: int = 8, alpha: float = 16,
             dropout: float = 0.0, use_rslora: bool = False, use_dora: bool = False, init: str = "default"):
    """Wrap the targeted linear layers of `model` (dense or MoE) in LoRALinear and freeze every other weight.
    Returns the model, changed in place."""
    check_lora_args(r, alpha, dropout, init)
    if any(isinstance(m, LoRALinear) for m in model.modules()):
        raise ValueError("this model already has LoRA adapters: merge_lora(model) first, or load into a fresh model")
    names = lora_targets(model, target_modules)
    model.requires_grad_(False)
    for name in names:
        model.set_submodule(name, LoRALinear(model.get_submodule(name), r, alpha, dropout, use_rslora, use_dora, init))
    return model


def lora_layers(model: nn.Module) -> dict:
    """{name: LoRALinear} of every adapter in the model."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by a plain nn.Linear holding its merged weight (quantized bases are dequantized
    into the compute dtype) and make every parameter trainable again. Returns the model, changed in place."""
    for name, layer in lora_layers(model).items():
        weight = merged_weight(layer) if not layer.merged else base_weight(layer.base)
        dtype = getattr(layer.base, "compute_dtype", None) or base_weight(layer.base).dtype
        bias = getattr(layer.base, "bias", None)
        plain = nn.Linear(layer.in_features, layer.out_features, bias=bias is not None, device=weight.device,
                          dtype=dtype)
        with torch.no_grad():
            plain.weight.copy_(weight.to(dtype))
            if bias is not None:
                plain.bias.copy_(bias.to(dtype))
        model.set_submodule(name, plain)
    embed, ids = token_rows(model)
    if ids is not None:                                  # the trained rows simply stay in the embedding
        embed.token_hook.remove()
        del embed.trainable_token_indices, embed.token_hook, embed.original_token_rows
    return model.requires_grad_(True)


def count_parameters(model: nn.Module) -> dict:
    """{"trainable", "total"}: each shared tensor counted once; a quantized layer counts its weight's elements."""
    rows = {id(m.weight): len(m.trainable_token_indices) for m in model.modules()     # train_token_rows
            if getattr(m, "trainable_token_indices", None) is not None}
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
            trainable += 0 if not p.requires_grad else rows[id(p)] * p.shape[1] if id(p) in rows else p.numel()
    total += sum(m.in_features * m.out_features for m in model.modules() if getattr(m, "is_linear", False))
    return {"trainable": trainable, "total": total}


def train_token_rows(model: nn.Module, token_ids) -> nn.Module:
    """Let the embedding rows of `token_ids` train, every other row frozen (with a tied head, the same rows of the
    head). Adapters on the linear layers cannot give a token the base model never saw, a chat marker say, a useful
    vector; PEFT calls this trainable_token_indices. A gradient hook zeroes the other rows' gradients, and the
    original rows are kept so that `adapters_disabled` can put them back."""
    embed = model.model.embed_tokens
    ids = sorted({int(i) for i in token_ids})
    if not ids or ids[0] < 0 or ids[-1] >= embed.weight.shape[0]:
        raise ValueError(f"token ids must lie in [0, {embed.weight.shape[0]}), got {ids}")
    if getattr(embed, "trainable_token_indices", None) is not None:
        raise ValueError("this embedding already trains some rows")
    keep = torch.zeros(embed.weight.shape[0], 1, device=embed.weight.device, dtype=embed.weight.dtype)
    keep[ids] = 1
    embed.trainable_token_indices = ids
    embed.register_buffer("original_token_rows", embed.weight.detach()[ids].clone(), persistent=False)
    embed.weight.requires_grad_(True)
    embed.token_hook = embed.weight.register_hook(lambda grad: grad * keep)
    return model


def token_rows(model: nn.Module):
    """(embedding, its trainable row ids) when train_token_rows was used, else (embedding, None)."""
    embed = model.model.embed_tokens
    return embed, getattr(embed, "trainable_token_indices", None)


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """Inside the block the model computes as its base alone (every adapter skipped): the reference model of
    preference tuning without a second copy of the weights."""
    layers = list(lora_layers(model).values())
    states = [layer.enabled for layer in layers]
    embed, ids = token_rows(model)
    trained = None if ids is None else embed.weight.detach()[ids].clone()
    for layer in layers:
        layer.enabled = False
    with torch.no_grad():
        if ids is not None:                                  # the base's own rows for the trained tokens
            embed.weight[ids] = embed.original_token_rows
    try:
        yield model
    finally:
        for layer, state in zip(layers, states):
            layer.enabled = state
        with torch.no_grad():
            if ids is not None:
                embed.weight[ids] = trained


PEFT_PREFIX = "base_model.model."       # PEFT saves adapter tensors under the wrapped model's names
TOKEN_ROWS = "model.embed_tokens.token_adapter.trainable_tokens_delta"


def adapter_config(model: nn.Module) -> dict:
    """The adapter_config.json PEFT writes for this model's adapters (one rank, alpha and kind for all)."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("this model has no LoRA adapters: add_lora(model, ...) first")
    settings = {(m.r, m.alpha, getattr(m.dropout, "p", 0.0), m.use_rslora, m.use_dora, m.init) for m in layers.values()}
    if len(settings) > 1:
        raise ValueError(f"PEFT's file holds one rank/alpha/dropout/kind for every layer; these adapters mix {settings}")
    r, alpha, dropout, rslora, dora, init = settings.pop()
    if init == "pissa":
        raise ValueError("a PiSSA adapter changed its base weights (W - s B A), which adapter files do not hold: "
                         "save the merged model instead (merge_lora, then save_pretrained)")
    _, ids = token_rows(model)
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": None, "r": r,
            "trainable_token_indices": None if ids is None else {"embed_tokens": ids},
            "lora_alpha": alpha, "lora_dropout": dropout, "target_modules": sorted({n.rsplit(".", 1)[-1] for n in layers}),
            "use_rslora": rslora, "use_dora": dora, "bias": "none", "fan_in_fan_out": False, "init_lora_weights": True,
            "modules_to_save": None, "inference_mode": True, "rank_pattern": {}, "alpha_pattern": {}}


def adapter_tensors(model: nn.Module) -> dict:
    """The adapter's tensors under PEFT's names: base_model.model.<layer>.lora_A.weight, .lora_B.weight and, with
    DoRA, .lora_magnitude_vector."""
    tensors = {}
    for name, layer in lora_layers(model).items():
        tensors[f"{PEFT_PREFIX}{name}.lora_A.weight"] = layer.lora_A.weight
        tensors[f"{PEFT_PREFIX}{name}.lora_B.weight"] = layer.lora_B.weight
        if layer.lora_magnitude_vector is not None:
            tensors[f"{PEFT_PREFIX}{name}.lora_magnitude_vector"] = layer.lora_magnitude_vector
    embed, ids = token_rows(model)
    if ids is not None:                                       # PEFT stores the trained rows' new values
        tensors[f"{PEFT_PREFIX}{TOKEN_ROWS}"] = embed.weight[ids]
    return {k: v.detach().contiguous() for k, v in tensors.items()}


def save_adapter(model: nn.Module, path) -> Path:
    """adapter_config.json and adapter_model.safetensors in PEFT's layout, each written atomically:
    PeftModel.from_pretrained loads them onto the transformers twin of the model."""
    from safetensors.torch import save_file
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    config, tensors = adapter_config(model), adapter_tensors(model)
    atomic_write(folder / "adapter_model.safetensors", lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    atomic_write(folder / "adapter_config.json", lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n"))
    return folder


UNSUPPORTED_PEFT = {"rank_pattern": {}, "alpha_pattern": {}, "bias": "none", "fan_in_fan_out": False,
                    "modules_to_save": None, "layers_to_transform": None, "target_parameters": None,
                    "lora_bias": False, "use_qalora": False}


def read_adapter_config(path) -> dict:
    """A PEFT adapter_config.json, checked: a LoRA adapter, with nothing set that add_lora cannot build."""
    file = Path(path) / "adapter_config.json"
    if not file.is_file():
        raise FileNotFoundError(f"no adapter_config.json in {path}")
    config = json.loads(file.read_text())
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{file} describes a {config.get('peft_type')!r} adapter; only LORA adapters load here")
    odd = {k: config[k] for k, plain in UNSUPPORTED_PEFT.items() if config.get(k, plain) not in (plain, None, {}, [])}
    if odd:
        raise ValueError(f"{file} uses PEFT options add_lora does not build: {odd}")
    init = config.get("init_lora_weights", True)
    if init not in (True, False, "gaussian"):
        raise ValueError(f"{file}: init_lora_weights={init!r} changes the base weights; merge it with PEFT first")
    return config


def load_adapter(model: nn.Module, path) -> nn.Module:
    """Add the adapter PEFT saved in `path` to our model (its config decides r, alpha, dropout, targets, rsLoRA,
    DoRA) and load its tensors; every tensor must find its place and every adapter its tensors."""
    from safetensors.torch import load_file
    config = read_adapter_config(path)
    add_lora(model, config["target_modules"], r=config["r"], alpha=config["lora_alpha"],
             dropout=config.get("lora_dropout", 0.0), use_rslora=config.get("use_rslora", False),
             use_dora=config.get("use_dora", False))
    rows = config.get("trainable_token_indices") or {}
    if set(rows) - {"embed_tokens"}:
        raise ValueError(f"trainable_token_indices for {sorted(rows)}: only embed_tokens is supported")
    if rows:
        train_token_rows(model, rows["embed_tokens"])
    tensors = load_file(str(Path(path) / "adapter_model.safetensors"))
    expected = adapter_tensors(model)
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(f"adapter file and model disagree: missing {missing[:4]}, unexpected {unexpected[:4]}")
    params = dict(model.named_parameters())
    embed, ids = token_rows(model)
    with torch.no_grad():
        if ids is not None:
            embed.weight[ids] = tensors.pop(PEFT_PREFIX + TOKEN_ROWS).to(embed.weight.dtype)
        for key, value in tensors.items():
            target = params[key.removeprefix(PEFT_PREFIX)]
            if target.shape != value.shape:
                raise ValueError(f"{key}: the file holds shape {tuple(value.shape)}, the model {tuple(target.shape)}")
            target.copy_(value)
    return model


def loraplus_parameter_groups(model: nn.Module, lr: float, ratio: float = 16.0) -> list[dict]:
    """LoRA+: the B matrices learn `ratio` times faster than the A matrices (and DoRA's magnitudes)."""
    fast = [p for n, p in model.named_parameters() if p.requires_grad and ".lora_B." in n]
    slow = [p for n, p in model.named_parameters() if p.requires_grad and ".lora_B." not in n]
    return [{"params": slow, "lr": lr}, {"params": fast, "lr": lr * ratio}]
