# Generated from notebooks/09_lora_and_qlora.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""4-bit NormalFloat from raw ops: the NF4 levels, blockwise quantization, double quantization, bitsandbytes'
byte layout, NF4Linear for QLoRA, and transformers' 4-bit checkpoints (notebook 09)."""
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


def nf4_from_quantiles(offset: float = 0.9677083) -> torch.Tensor:
    """NF4's 16 levels from the standard normal's quantiles: 8 for the positive half (with 1.0 at the top), 7
    for the negative half, and an exact zero; scaled into [-1, 1]. `offset` (about (1 - 1/32 + 1 - 1/30) / 2)
    keeps the outermost quantile finite."""
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1])
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1])
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (levels / levels.abs().max()).float()


# The table QLoRA published and bitsandbytes uses, to the last float32 bit (nf4_from_quantiles is within 1.2e-7).
NF4 = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0])


BLOCKSIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)      # the block sizes bitsandbytes' kernels accept
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def blocks_of(x: torch.Tensor, blocksize: int) -> torch.Tensor:
    """x flattened and zero-padded into rows of `blocksize`: (ceil(n / blocksize), blocksize), float32."""
    flat = x.reshape(-1).float()
    return F.pad(flat, (0, -flat.numel() % blocksize)).view(-1, blocksize)


def nearest_code(values: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """The index of the nearest entry of a sorted `code` for each value (a tie goes to the lower index), uint8."""
    midpoints = (code[1:] + code[:-1]) / 2
    return torch.bucketize(values, midpoints, right=False).to(torch.uint8)


@dataclass
class NF4Weight:
    """A weight in NF4: `packed` (n/2 uint8, two 4-bit codes per byte, the first in the high nibble) and one scale
    per block of `blocksize`. Without double quantization `absmax` holds the float32 scales; with it, `absmax`
    holds their 8-bit codes (scale - offset, in blocks of 256 with float32 `absmax2`)."""
    packed: torch.Tensor
    absmax: torch.Tensor
    shape: tuple
    dtype: torch.dtype
    blocksize: int = 64
    offset: torch.Tensor | None = None
    absmax2: torch.Tensor | None = None
    blocksize2: int = 256

    @property
    def double_quant(self) -> bool:
        return self.absmax2 is not None

    def nbytes(self) -> int:
        """The bytes this weight occupies: codes plus statistics."""
        tensors = [self.packed, self.absmax] + ([self.offset, self.absmax2] if self.double_quant else [])
        return sum(t.numel() * t.element_size() for t in tensors)


def check_quantizable(weight: torch.Tensor, blocksize: int) -> None:
    """ValueError for a tensor NF4 cannot hold as asked."""
    if not isinstance(weight, torch.Tensor) or weight.dtype not in FLOAT_DTYPES:
        raise ValueError(f"quantize_nf4 takes a float32, float16 or bfloat16 tensor, got "
                         f"{getattr(weight, 'dtype', type(weight).__name__)}")
    if blocksize not in BLOCKSIZES:
        raise ValueError(f"blocksize must be one of {BLOCKSIZES}, got {blocksize!r}")
    if weight.numel() == 0 or weight.numel() % 2:
        raise ValueError(f"NF4 packs two 4-bit codes per byte, so a tensor needs an even, non-zero number of "
                         f"elements; this one has {weight.numel()} (shape {tuple(weight.shape)})")
    if not torch.isfinite(weight).all():
        raise ValueError("the tensor holds NaN or infinite values, which no scale can represent")


def quantize_blockwise(x: torch.Tensor, code: torch.Tensor, blocksize: int,
                       reciprocal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Blockwise absmax quantization to the nearest entry of `code`: (codes uint8 (n,), absmax float32 (blocks,)).
    bitsandbytes scales 4-bit blocks by x * (1 / absmax) and 8-bit ones by x / absmax; the two can differ in the
    last bit, which decides a value lying on the midpoint between two levels, so `reciprocal` picks the first."""
    blocks = blocks_of(x, blocksize)
    absmax = blocks.abs().max(dim=1).values
    safe = absmax.clamp(min=1e-38).unsqueeze(1)
    scaled = (blocks * (1.0 / safe) if reciprocal else blocks / safe).clamp(-1, 1)
    return nearest_code(scaled.reshape(-1)[:x.numel()], code.to(x.device)), absmax


def quantize_nf4(weight: torch.Tensor, blocksize: int = 64, double_quant: bool = True) -> NF4Weight:
    """NF4 with bitsandbytes' byte layout: per block of `blocksize` values, divide by the block's absmax and keep
    the nearest of the 16 NF4 levels; pack two codes per byte. With double quantization the float32 absmaxes,
    minus their mean, are themselves quantized to 8 bits in blocks of 256."""
    check_quantizable(weight, blocksize)
    codes, absmax = quantize_blockwise(weight, NF4, blocksize, reciprocal=True)
    packed = (codes[0::2] << 4) | codes[1::2]
    q = NF4Weight(packed, absmax, tuple(weight.shape), weight.dtype, blocksize)
    if double_quant:
        q.offset = absmax.mean()
        q.absmax, q.absmax2 = quantize_blockwise(absmax - q.offset, DYNAMIC, q.blocksize2)
    return q


def block_scales(q: NF4Weight) -> torch.Tensor:
    """The float32 scale of every block (undoing the double quantization when there is one)."""
    if not q.double_quant:
        return q.absmax
    codes = DYNAMIC.to(q.absmax.device)[q.absmax.long()]
    return (blocks_of(codes, q.blocksize2) * q.absmax2.unsqueeze(1)).reshape(-1)[:codes.numel()] + q.offset


def dequantize_nf4(q: NF4Weight) -> torch.Tensor:
    """The weight NF4 describes, in its original shape and dtype: level[code] * the block's scale."""
    codes = torch.stack([q.packed >> 4, q.packed & 0xF], dim=1).reshape(-1).long()
    values = blocks_of(NF4.to(q.packed.device)[codes], q.blocksize) * block_scales(q).unsqueeze(1)
    return values.reshape(-1)[:math.prod(q.shape)].view(q.shape).to(q.dtype)


def dynamic_map() -> torch.Tensor:
    """bitsandbytes' signed 8-bit dynamic code, 256 sorted values in [-1, 1]: for each decade 10^-6 .. 10^0,
    2^i evenly spaced fractions (more of them for the larger decades), both signs, then 0 and 1."""
    values = []
    for i in range(7):
        edges = torch.linspace(0.1, 1, 2 ** i + 1, dtype=torch.float32)
        mids = (edges[:-1] + edges[1:]) / 2
        values += (10 ** (i - 6) * mids).tolist() + (-(10 ** (i - 6)) * mids).tolist()
    return torch.tensor(sorted(values + [0.0, 1.0]))


DYNAMIC = dynamic_map()


class DequantizedMatmul(torch.autograd.Function):
    """x W^T with W dequantized from a frozen NF4Linear, here and again in the backward pass: autograd keeps only
    the 4-bit layer, never the full-precision weight, between the two (QLoRA's memory saving)."""

    @staticmethod
    def forward(ctx, x, layer):
        ctx.layer = layer
        return F.linear(x, layer.dequantize())

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out @ ctx.layer.dequantize(), None        # (..., out) @ (out, in): the input's gradient only


class NF4Linear(nn.Module):
    """A frozen linear layer stored in NF4 and dequantized on the fly into `compute_dtype` for each matmul.
    With a LoRA adapter on top (add_lora wraps it like an nn.Linear) this is QLoRA."""
    is_linear = True

    def __init__(self, q: NF4Weight, bias: torch.Tensor | None = None, compute_dtype: torch.dtype | None = None):
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.shape, self.weight_dtype, self.blocksize, self.blocksize2 = q.shape, q.dtype, q.blocksize, q.blocksize2
        self.compute_dtype = compute_dtype or q.dtype
        for name in ("packed", "absmax", "offset", "absmax2"):          # buffers: saved, moved, never trained
            self.register_buffer(name, getattr(q, name))
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, blocksize: int = 64, double_quant: bool = True, compute_dtype=None):
        return cls(quantize_nf4(linear.weight.detach(), blocksize, double_quant), linear.bias,
                   compute_dtype or linear.weight.dtype)

    def quantized(self) -> NF4Weight:
        return NF4Weight(self.packed, self.absmax, self.shape, self.weight_dtype, self.blocksize, self.offset,
                         self.absmax2, self.blocksize2)

    def dequantize(self) -> torch.Tensor:
        return dequantize_nf4(self.quantized()).to(self.compute_dtype)

    @property
    def weight(self) -> torch.Tensor:
        """The dequantized weight, for code that reads `layer.weight` (its dtype is the compute dtype)."""
        return self.dequantize()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = DequantizedMatmul.apply(x.to(self.compute_dtype), self)
        return y if self.bias is None else y + self.bias.to(self.compute_dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, blocksize={self.blocksize}, "
                f"double_quant={self.absmax2 is not None}, compute_dtype={self.compute_dtype}")


def quantize_model(model: nn.Module, blocksize: int = 64, double_quant: bool = True, compute_dtype=None,
                   skip=("lm_head",)) -> nn.Module:
    """Replace every nn.Linear of the model by an NF4Linear, except those named in `skip` (the output head;
    embeddings and norms are not linear layers and stay as they are). Returns the model, changed in place."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] not in skip]
    if not names:
        raise ValueError("the model has no nn.Linear layer to quantize")
    for name in names:
        model.set_submodule(name, NF4Linear.from_linear(model.get_submodule(name), blocksize, double_quant, compute_dtype))
    return model


QUANT_STATE = ".weight.quant_state.bitsandbytes__nf4"     # the JSON bitsandbytes stores beside each 4-bit weight


def check_4bit_config(hf: dict) -> dict:
    """The quantization_config of a config.json, checked: bitsandbytes, 4-bit, NF4."""
    qc = hf.get("quantization_config")
    if not qc:
        raise ValueError("config.json has no quantization_config: load this model with Transformer.from_pretrained")
    if qc.get("quant_method") != "bitsandbytes" or not qc.get("load_in_4bit"):
        raise ValueError(f"only bitsandbytes 4-bit checkpoints load here, got quant_method={qc.get('quant_method')!r}, "
                         f"load_in_4bit={qc.get('load_in_4bit')!r}")
    if qc.get("bnb_4bit_quant_type") != "nf4" or qc.get("bnb_4bit_quant_storage", "uint8") != "uint8":
        raise ValueError(f"only NF4 codes stored as uint8 load here, got {qc.get('bnb_4bit_quant_type')!r} "
                         f"in {qc.get('bnb_4bit_quant_storage')!r}")
    return qc


def checkpoint_nf4(tensors: dict, layer: str) -> NF4Weight:
    """Take the NF4 weight of `layer` out of a transformers 4-bit state dict (popping its tensors), checked
    against our NF4 table and dynamic code."""
    state = json.loads(bytes(tensors.pop(layer + QUANT_STATE).tolist()).decode())
    prefix = layer + ".weight"
    if not torch.equal(tensors.pop(prefix + ".quant_map").float(), NF4):
        raise ValueError(f"{layer}: its quant_map is not the NF4 table")
    q = NF4Weight(tensors.pop(prefix).reshape(-1), tensors.pop(prefix + ".absmax"), tuple(state["shape"]),
                  getattr(torch, state["dtype"]), state["blocksize"])
    if "nested_offset" in state:
        if not torch.equal(tensors.pop(prefix + ".nested_quant_map").float(), DYNAMIC):
            raise ValueError(f"{layer}: its nested_quant_map is not the 8-bit dynamic code")
        q.offset = torch.tensor(state["nested_offset"], dtype=torch.float32)
        q.absmax2, q.blocksize2 = tensors.pop(prefix + ".nested_absmax").float(), state["nested_blocksize"]
    return q


def load_4bit_pretrained(path, compute_dtype: torch.dtype | None = None):
    """A checkpoint transformers saved with BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4"),
    loaded into our Transformer: each 4-bit linear layer an NF4Linear with the same codes and statistics, the
    rest (embeddings, norms, head) as stored. compute_dtype defaults to the config's bnb_4bit_compute_dtype."""
    from rawllm.model import Transformer, config_from_hf, read_safetensors
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}")
    hf = json.loads((folder / "config.json").read_text())
    qc = check_4bit_config(hf)
    compute_dtype = compute_dtype or getattr(torch, qc.get("bnb_4bit_compute_dtype") or "float32")
    config = config_from_hf({k: v for k, v in hf.items() if k != "quantization_config"})
    tensors = read_safetensors(folder)
    layers = [k.removesuffix(QUANT_STATE) for k in tensors if k.endswith(QUANT_STATE)]
    model = Transformer(config)
    for layer in layers:
        q = checkpoint_nf4(tensors, layer)
        model.set_submodule(layer, NF4Linear(q, tensors.pop(layer + ".bias", None), compute_dtype))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_embeddings)
               and k.rsplit(".", 1)[0] not in layers]
    if missing or unexpected:
        raise ValueError(f"the 4-bit checkpoint does not match its config: missing {missing[:6]}, "
                         f"unexpected {unexpected[:6]}")
    model.tie_weights()
    return model.eval()


def bits_per_parameter(blocksize: int = 64, double_quant: bool = True, blocksize2: int = 256) -> float:
    """Bits NF4 spends per weight: 4 for the code, plus the block's scale shared by `blocksize` weights (32 bits,
    or 8 bits plus a 32-bit scale per 256 blocks with double quantization)."""
    return 4 + (8 / blocksize + 32 / (blocksize * blocksize2) if double_quant else 32 / blocksize)


def tensor_bytes(tensors) -> int:
    """Bytes of distinct tensors (a tensor seen twice, a tied weight say, counts once)."""
    seen = {}
    for t in tensors:
        if t is not None:
            seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values())


def training_memory(model: nn.Module, loss_fn, optimizer) -> dict:
    """Bytes one training step holds, measured on its tensors: the weights (parameters and buffers), the
    activations autograd saves for the backward pass (counted by a saved-tensors hook, parameters excluded),
    the gradients, and the optimizer's state after the step. `loss_fn()` runs the forward pass."""
    params = [p for p in model.parameters()]
    own = {p.untyped_storage().data_ptr() for p in params} | {b.untyped_storage().data_ptr() for b in model.buffers()}
    saved = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in own:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    optimizer.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn()
    loss.backward()
    optimizer.step()
    state = [t for s in optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor) and t.dim() > 0]
    return {"weights": tensor_bytes(params + list(model.buffers())), "activations": sum(saved.values()),
            "gradients": tensor_bytes(p.grad for p in params), "optimizer": tensor_bytes(state)}
