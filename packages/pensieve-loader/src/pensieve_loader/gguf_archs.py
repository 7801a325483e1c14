"""What each GGUF architecture becomes for mlx-lm: its ``config.json``, tensor names and quirks.

llama.cpp's ``convert_hf_to_gguf.py`` names tensors through the ``gguf`` package's
``TensorNameMap`` (Hugging Face name -> GGUF name). That map lists dozens of Hugging Face spellings
for each GGUF tensor, so it cannot be inverted mechanically; ``LAYER_TENSORS`` is its inverse for the
names mlx-lm's model classes hold (after their ``sanitize``: stacked experts live in
``switch_mlp``), and a test checks every entry against the map. The config keys are the fields of
each mlx-lm ``ModelArgs``, read from the GGUF keys llama.cpp's converter writes, with llama.cpp's
own defaults where the GGUF states nothing (Gemma 3's sliding-window pattern of 6 and local RoPE
base of 10,000, Gemma 2's soft-capping of 50 and 30).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import numpy as np
import numpy.typing as npt
from gguf import MODEL_TENSOR, TENSOR_NAMES, GGUFReader, GGUFValueType, ReaderField, ReaderTensor

from pensieve_core import ModelFormatError, UnsupportedModelError
from pensieve_loader.gguf_header import SUPPORTED_ARCHITECTURES

_T = MODEL_TENSOR

LAYER_TENSORS: dict[MODEL_TENSOR, str] = {
    _T.ATTN_NORM: "input_layernorm",
    _T.ATTN_Q: "self_attn.q_proj",
    _T.ATTN_K: "self_attn.k_proj",
    _T.ATTN_V: "self_attn.v_proj",
    _T.ATTN_QKV: "self_attn.qkv_proj",
    _T.ATTN_OUT: "self_attn.o_proj",
    _T.ATTN_Q_NORM: "self_attn.q_norm",
    _T.ATTN_K_NORM: "self_attn.k_norm",
    _T.ATTN_POST_NORM: "post_attention_layernorm",
    _T.FFN_NORM: "post_attention_layernorm",
    _T.FFN_PRE_NORM: "pre_feedforward_layernorm",  # GGUF `ffn_norm` too, in Gemma 2 and 3
    _T.FFN_POST_NORM: "post_feedforward_layernorm",
    _T.FFN_GATE: "mlp.gate_proj",
    _T.FFN_UP: "mlp.up_proj",
    _T.FFN_DOWN: "mlp.down_proj",
    _T.FFN_GATE_INP: "mlp.gate",
    _T.FFN_GATE_EXP: "mlp.switch_mlp.gate_proj",
    _T.FFN_UP_EXP: "mlp.switch_mlp.up_proj",
    _T.FFN_DOWN_EXP: "mlp.switch_mlp.down_proj",
    _T.FFN_GATE_SHEXP: "mlp.shared_expert.gate_proj",
    _T.FFN_UP_SHEXP: "mlp.shared_expert.up_proj",
    _T.FFN_DOWN_SHEXP: "mlp.shared_expert.down_proj",
    _T.FFN_GATE_INP_SHEXP: "mlp.shared_expert_gate",
}
"""GGUF per-layer tensor (``blk.N.<name>``, named by the ``gguf`` package) -> module in layer N."""

GLOBAL_TENSORS: dict[MODEL_TENSOR, str] = {
    _T.TOKEN_EMBD: "model.embed_tokens",
    _T.OUTPUT_NORM: "model.norm",
    _T.OUTPUT: "lm_head",
}

_ATTENTION = frozenset({_T.ATTN_NORM, _T.ATTN_Q, _T.ATTN_K, _T.ATTN_V, _T.ATTN_OUT})
_DENSE_FFN = frozenset({_T.FFN_NORM, _T.FFN_GATE, _T.FFN_UP, _T.FFN_DOWN})
_EXPERTS = frozenset({_T.FFN_GATE_INP, _T.FFN_GATE_EXP, _T.FFN_UP_EXP, _T.FFN_DOWN_EXP})
_SHARED_EXPERT = frozenset(
    {_T.FFN_GATE_SHEXP, _T.FFN_UP_SHEXP, _T.FFN_DOWN_SHEXP, _T.FFN_GATE_INP_SHEXP}
)
_QK_NORM = frozenset({_T.ATTN_Q_NORM, _T.ATTN_K_NORM})
_SANDWICH = frozenset(
    {_T.ATTN_POST_NORM, _T.FFN_PRE_NORM, _T.FFN_POST_NORM, _T.FFN_GATE, _T.FFN_UP, _T.FFN_DOWN}
)
"""Gemma 2 and 3: norms before and after both the attention and the MLP."""


def _stem(tensor: MODEL_TENSOR) -> str:
    return TENSOR_NAMES[tensor].removeprefix("blk.{bid}.")


def read_field(reader: GGUFReader, key: str, default: Any = None) -> Any:
    """The value of metadata ``key`` (a list for arrays), or ``default``."""
    found: ReaderField | None = reader.fields.get(key)
    if found is None:
        return default
    if found.types and found.types[0] == GGUFValueType.ARRAY and len(found.data) > 1_000:
        # contents() on 50k-entry arrays is slow; read the parts directly.
        kind = found.types[-1]
        if kind == GGUFValueType.STRING:
            return [bytes(found.parts[i]).decode("utf-8", errors="replace") for i in found.data]
        values = np.concatenate([found.parts[i] for i in found.data])
        if kind in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64):
            return values.astype(np.float64).tolist()
        if kind == GGUFValueType.BOOL:
            return values.astype(bool).tolist()
        return values.astype(np.int64).tolist()
    return found.contents()


class Metadata:
    """One GGUF's ``<arch>.*`` keys and tensor shapes, for building ``config.json``."""

    def __init__(self, reader: GGUFReader, arch: str, path: Path) -> None:
        self.reader = reader
        self.arch = arch
        self.path = str(path)
        self.tensors: dict[str, ReaderTensor] = {t.name: t for t in reader.tensors}

    def get(self, key: str, default: Any = None) -> Any:
        """``<arch>.<key>``, or ``default``."""
        return read_field(self.reader, f"{self.arch}.{key}", default)

    def need(self, key: str) -> Any:
        """``<arch>.<key>``.

        Raises:
            ModelFormatError: the GGUF lacks it.
        """
        value = self.get(key)
        if value is None:
            raise ModelFormatError(
                f"GGUF {self.path!r} lacks metadata {self.arch}.{key}", path=self.path
            )
        return value

    def uniform(self, key: str, default: Any = None) -> Any:
        """A per-layer key that mlx-lm needs to be one value (a GGUF may store an array)."""
        value = self.get(key, default)
        if isinstance(value, list):
            if len(set(value)) != 1:
                self.refuse(f"its {self.arch}.{key} differs between layers ({value})")
            return value[0]
        return value

    def shape(self, name: str) -> tuple[int, ...] | None:
        """The numpy (row-major) shape of tensor ``name``, or ``None`` when absent."""
        tensor = self.tensors.get(name)
        return None if tensor is None else tuple(int(d) for d in reversed(tensor.shape))

    def floats(self, name: str) -> npt.NDArray[np.float64] | None:
        """A float tensor's values (RoPE factor vectors), or ``None`` when absent."""
        tensor = self.tensors.get(name)
        if tensor is None:
            return None
        if tensor.tensor_type.name not in ("F32", "F16"):
            self.refuse(f"its tensor {name!r} has type {tensor.tensor_type.name}, not F32 or F16")
        return np.asarray(tensor.data, dtype=np.float64).ravel()

    def refuse(self, why: str) -> NoReturn:
        """Raise the one-line refusal for a feature of this GGUF that mlx-lm cannot run.

        Raises:
            UnsupportedModelError: always.
        """
        raise UnsupportedModelError(
            f"GGUF {self.path!r} ({self.arch}) cannot be converted: {why}", path=self.path
        )


Head = Literal["any", "tied", "untied"]


def _nothing(meta: Metadata, config: dict[str, Any]) -> None:
    del meta, config


@dataclass(frozen=True, slots=True)
class Architecture:
    """How one GGUF architecture maps onto one mlx-lm model class."""

    gguf: str
    """``general.architecture``."""
    model_type: str
    """``config.json``'s ``model_type``: the mlx-lm module that runs it."""
    hf_class: str
    layer_tensors: frozenset[MODEL_TENSOR]
    """The GGUF per-layer tensors the mlx-lm model holds (optional ones included)."""
    renames: Mapping[MODEL_TENSOR, str] = field(default_factory=dict)
    """Per-architecture overrides of ``LAYER_TENSORS``."""
    config_tensors: frozenset[MODEL_TENSOR] = frozenset()
    """Global tensors that become ``config.json`` values, not weights (RoPE factors)."""
    permuted_qk: bool = False
    """llama.cpp interleaved Q/K rows for its RoPE kernel (``LlamaModel.permute``)."""
    norm_offset: bool = False
    """Norm weights are stored as ``1 + w`` (llama.cpp adds 1 to Gemma's norms)."""
    head: Head = "any"
    """``tied``: mlx-lm always ties the output to the embedding; ``untied``: it never does."""
    derived_head_dim: bool = False
    """mlx-lm computes ``head_dim`` as ``hidden_size / num_attention_heads``."""
    extra: Callable[[Metadata, dict[str, Any]], None] = _nothing
    """Adds the architecture's own keys to the common config."""

    def layer_names(self) -> dict[str, str]:
        """GGUF per-layer stem (``attn_q``) -> mlx-lm module (``self_attn.q_proj``)."""
        return {_stem(t): self.renames.get(t, LAYER_TENSORS[t]) for t in sorted(self.layer_tensors)}

    def config_names(self) -> frozenset[str]:
        """GGUF names of the tensors that go into ``config.json``."""
        return frozenset(f"{TENSOR_NAMES[t]}.weight" for t in self.config_tensors)

    def hf_name(self, gguf_name: str) -> str | None:
        """The mlx-lm parameter name of GGUF tensor ``gguf_name``, or ``None`` if foreign."""
        stem, _, suffix = gguf_name.rpartition(".")
        if stem.startswith("blk."):
            parts = stem.split(".", 2)
            mapped = self.layer_names().get(parts[2]) if len(parts) == 3 else None
            if mapped is None or not parts[1].isdigit():
                return None
            return f"model.layers.{parts[1]}.{mapped}.{suffix}"
        found = next((h for t, h in GLOBAL_TENSORS.items() if TENSOR_NAMES[t] == stem), None)
        return f"{found}.{suffix}" if found else None


def _query_pre_attn_scalar(config: dict[str, Any], big_layers: int) -> int:
    """llama.cpp's Gemma attention scale: ``1/sqrt(head_dim)``, but 27B models use hidden/heads."""
    if config["num_hidden_layers"] == big_layers:
        return int(config["hidden_size"] // config["num_attention_heads"])
    return int(config["head_dim"])


def _llama(meta: Metadata, config: dict[str, Any]) -> None:
    if "blk.0.attn_q.bias" in meta.tensors:
        config["attention_bias"] = True
    if "blk.0.ffn_up.bias" in meta.tensors:
        config["mlp_bias"] = True
    factors = meta.floats("rope_freqs.weight")
    if factors is not None:
        scaling = llama3_rope_scaling(
            factors,
            base=config["rope_theta"],
            original=meta.get("rope.scaling.original_context_length"),
        )
        if scaling is None and not np.allclose(factors, 1.0):
            meta.refuse("its rope_freqs are not Llama 3 RoPE scaling factors")
        if scaling is not None:
            config["rope_scaling"] = scaling


def _mixtral(meta: Metadata, config: dict[str, Any]) -> None:
    _llama(meta, config)
    shape = meta.shape("blk.0.ffn_gate_exps.weight")
    if shape is None:
        meta.refuse("its experts are not stacked (blk.N.ffn_gate_exps), as older GGUFs stored them")
    config["num_local_experts"] = int(meta.get("expert_count", shape[0]))
    config["num_experts_per_tok"] = int(meta.need("expert_used_count"))
    config["intermediate_size"] = int(shape[1])


def _experts(meta: Metadata, config: dict[str, Any]) -> None:
    shape = meta.shape("blk.0.ffn_gate_exps.weight")
    if shape is None:
        meta.refuse("it has no stacked expert tensors (blk.N.ffn_gate_exps)")
    config["num_experts"] = int(meta.get("expert_count", shape[0]))
    config["num_experts_per_tok"] = int(meta.need("expert_used_count"))
    config["moe_intermediate_size"] = int(meta.get("expert_feed_forward_length", shape[1]))
    config.setdefault("intermediate_size", config["moe_intermediate_size"])


def _qwen2moe(meta: Metadata, config: dict[str, Any]) -> None:
    _experts(meta, config)
    shared = meta.shape("blk.0.ffn_gate_shexp.weight")
    if shared is None:
        meta.refuse(
            "it has no shared expert (blk.N.ffn_gate_shexp), which mlx-lm's qwen2_moe needs"
        )
    config["shared_expert_intermediate_size"] = int(
        meta.get("expert_shared_feed_forward_length", shared[0])
    )


def _qwen3moe(meta: Metadata, config: dict[str, Any]) -> None:
    _experts(meta, config)
    config["decoder_sparse_step"] = 1
    config["mlp_only_layers"] = []
    # llama.cpp's qwen3moe graph always renormalizes the chosen experts' weights.
    config["norm_topk_prob"] = bool(meta.get("expert_weights_norm", True))


def _phi3(meta: Metadata, config: dict[str, Any]) -> None:
    rope_dims = meta.get("rope.dimension_count")
    if rope_dims is not None and int(rope_dims) != config["head_dim"]:
        config["partial_rotary_factor"] = int(rope_dims) / config["head_dim"]
    original = meta.get("rope.scaling.original_context_length")
    if original is not None:
        config["original_max_position_embeddings"] = int(original)
    config.pop("rope_scaling", None)  # mlx-lm's phi3 accepts only longrope here
    long, short = meta.floats("rope_factors_long.weight"), meta.floats("rope_factors_short.weight")
    if long is not None:
        config["rope_scaling"] = {
            "type": "longrope",
            "long_factor": long.tolist(),
            "short_factor": (short if short is not None else long).tolist(),
        }


def _gemma2(meta: Metadata, config: dict[str, Any]) -> None:
    # llama.cpp's defaults when the keys are absent, which are also mlx-lm's.
    config["attn_logit_softcapping"] = float(meta.get("attn_logit_softcapping", 50.0))
    config["final_logit_softcapping"] = float(meta.get("final_logit_softcapping", 30.0))
    config["query_pre_attn_scalar"] = _query_pre_attn_scalar(config, big_layers=46)
    config["sliding_window"] = int(meta.get("attention.sliding_window", 4096))


def _swa_period(meta: Metadata, pattern: Any) -> int:
    """The period of a sliding-window pattern stated as an int or as per-layer flags."""
    if not isinstance(pattern, list):
        return int(pattern)
    flags = [bool(p) for p in pattern]
    for period in range(1, len(flags) + 1):
        if all(flag == (i % period < period - 1) for i, flag in enumerate(flags)):
            return period
    meta.refuse(f"its sliding-window layers {flags} do not repeat as mlx-lm's gemma3 needs")


def _gemma3(meta: Metadata, config: dict[str, Any]) -> None:
    config["query_pre_attn_scalar"] = _query_pre_attn_scalar(config, big_layers=62)
    # llama.cpp hard-codes a local RoPE base of 10,000 and a pattern of 6 for gemma3.
    config["rope_local_base_freq"] = float(meta.get("rope.freq_base_swa", 10_000.0))
    window = meta.get("attention.sliding_window")
    if window:
        config["sliding_window"] = int(window)
        config["sliding_window_pattern"] = _swa_period(
            meta, meta.get("attention.sliding_window_pattern", 6)
        )
    else:  # no sliding window: every layer global
        config["sliding_window"] = config["max_position_embeddings"]
        config["sliding_window_pattern"] = 1
    if meta.get("final_logit_softcapping"):
        meta.refuse("it soft-caps its logits, which mlx-lm's gemma3_text does not")


_LLAMA = Architecture(
    gguf="llama",
    model_type="llama",
    hf_class="LlamaForCausalLM",
    layer_tensors=_ATTENTION | _DENSE_FFN,
    config_tensors=frozenset({_T.ROPE_FREQS}),
    permuted_qk=True,
    extra=_llama,
)
MIXTRAL = Architecture(
    gguf="llama",
    model_type="mixtral",
    hf_class="MixtralForCausalLM",
    layer_tensors=_ATTENTION | {_T.FFN_NORM} | _EXPERTS,
    renames={
        _T.FFN_GATE_INP: "block_sparse_moe.gate",
        _T.FFN_GATE_EXP: "block_sparse_moe.switch_mlp.gate_proj",
        _T.FFN_UP_EXP: "block_sparse_moe.switch_mlp.up_proj",
        _T.FFN_DOWN_EXP: "block_sparse_moe.switch_mlp.down_proj",
    },
    config_tensors=frozenset({_T.ROPE_FREQS}),
    permuted_qk=True,
    derived_head_dim=True,
    extra=_mixtral,
)
"""A ``llama`` GGUF with experts (Mixtral): mlx-lm's ``mixtral``."""

ARCHITECTURES: dict[str, Architecture] = {
    a.gguf: a
    for a in (
        _LLAMA,
        Architecture(
            gguf="qwen2",
            model_type="qwen2",
            hf_class="Qwen2ForCausalLM",
            layer_tensors=_ATTENTION | _DENSE_FFN,
        ),
        Architecture(
            gguf="qwen3",
            model_type="qwen3",
            hf_class="Qwen3ForCausalLM",
            layer_tensors=_ATTENTION | _DENSE_FFN | _QK_NORM,
        ),
        Architecture(
            gguf="qwen2moe",
            model_type="qwen2_moe",
            hf_class="Qwen2MoeForCausalLM",
            layer_tensors=_ATTENTION | {_T.FFN_NORM} | _EXPERTS | _SHARED_EXPERT,
            head="untied",
            derived_head_dim=True,
            extra=_qwen2moe,
        ),
        Architecture(
            gguf="qwen3moe",
            model_type="qwen3_moe",
            hf_class="Qwen3MoeForCausalLM",
            layer_tensors=_ATTENTION | _QK_NORM | {_T.FFN_NORM} | _EXPERTS,
            extra=_qwen3moe,
        ),
        Architecture(
            gguf="phi3",
            model_type="phi3",
            hf_class="Phi3ForCausalLM",
            # Fused Q/K/V and gate/up matrices, as mlx-lm's phi3 holds them.
            layer_tensors=frozenset(
                {_T.ATTN_NORM, _T.ATTN_QKV, _T.ATTN_OUT, _T.FFN_NORM, _T.FFN_UP, _T.FFN_DOWN}
            ),
            renames={_T.FFN_UP: "mlp.gate_up_proj"},
            config_tensors=frozenset({_T.ROPE_FACTORS_LONG, _T.ROPE_FACTORS_SHORT}),
            derived_head_dim=True,
            extra=_phi3,
        ),
        Architecture(
            gguf="gemma",
            model_type="gemma",
            hf_class="GemmaForCausalLM",
            layer_tensors=_ATTENTION | _DENSE_FFN,
            norm_offset=True,
            head="tied",
        ),
        Architecture(
            gguf="gemma2",
            model_type="gemma2",
            hf_class="Gemma2ForCausalLM",
            layer_tensors=_ATTENTION | _SANDWICH,
            norm_offset=True,
            head="tied",
            extra=_gemma2,
        ),
        Architecture(
            gguf="gemma3",
            model_type="gemma3_text",
            hf_class="Gemma3ForCausalLM",
            layer_tensors=_ATTENTION | _SANDWICH | _QK_NORM,
            norm_offset=True,
            extra=_gemma3,
        ),
    )
}
"""Every GGUF architecture Pensieve converts, by ``general.architecture``."""

if tuple(ARCHITECTURES) != SUPPORTED_ARCHITECTURES:  # the light header reader lists them too
    raise RuntimeError("gguf_header.SUPPORTED_ARCHITECTURES is out of step with ARCHITECTURES")


def architecture_of(reader: GGUFReader, path: Path) -> Architecture:
    """The architecture of a GGUF.

    Raises:
        UnsupportedModelError: Pensieve does not convert it (one line, naming the supported ones).
    """
    arch = str(read_field(reader, "general.architecture", ""))
    found = ARCHITECTURES.get(arch)
    if found is None:
        raise UnsupportedModelError(
            f"GGUF {str(path)!r} has architecture {arch!r}, which Pensieve cannot convert "
            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})",
            path=str(path),
        )
    if arch == "llama" and any(t.name.endswith(".ffn_gate_inp.weight") for t in reader.tensors):
        return MIXTRAL
    return found


def llama3_rope_scaling(
    factors: npt.NDArray[np.float64], *, base: float, original: int | None
) -> dict[str, Any] | None:
    """The ``rope_scaling`` (``llama3``) whose per-frequency factors are ``factors``.

    llama.cpp's converter stores Llama 3.1's RoPE scaling only as the factors it computes
    (``rope_freqs``). mlx-lm recomputes them from ``factor``, ``low_freq_factor``,
    ``high_freq_factor`` and ``original_max_position_embeddings``; those are recovered here (the
    last is only known up to a common scale with the other two, which the factors do not depend
    on) and checked to give the same factors back. ``None`` when they cannot be.
    """
    if np.allclose(factors, 1.0):
        return None
    dims = 2 * len(factors)
    wavelens = 2 * math.pi * base ** (np.arange(0, dims, 2) / dims)
    factor = float(factors.max())
    old = float(original or 8192)
    high = np.isclose(factors, 1.0, rtol=1e-5)
    low = np.isclose(factors, factor, rtol=1e-5)
    medium = ~(high | low)
    if not (high.any() or medium.any()) or factor <= 1.0:
        return None
    top_high = wavelens[high].max() if high.any() else wavelens.min() / 2
    bottom_low = wavelens[low].min() if low.any() else wavelens.max() * 2
    if medium.sum() >= 2:
        # smooth = (old / wavelen - lo) / (hi - lo): a line in 1 / wavelen.
        ramp = (1 / factors[medium] - 1 / factor) / (1 - 1 / factor)
        slope, intercept = np.polyfit(1 / wavelens[medium], ramp, 1)
        span = old / slope
        lo = -intercept * span
        hi = lo + span
    else:  # boundaries between the classes, through the one smoothed frequency if there is one
        low_wavelen = math.sqrt((wavelens[medium].max() if medium.any() else top_high) * bottom_low)
        lo = old / low_wavelen
        if medium.any():
            wavelen = float(wavelens[medium][0])
            smooth = (1 / float(factors[medium][0]) - 1 / factor) / (1 - 1 / factor)
            hi = lo + (old / wavelen - lo) / smooth
        else:
            hi = old / math.sqrt(top_high * low_wavelen)
    scaling = {
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": float(lo),
        "high_freq_factor": float(hi),
        "original_max_position_embeddings": int(old) if old.is_integer() else old,
    }
    return scaling if np.allclose(llama3_factors(scaling, wavelens), factors, rtol=1e-4) else None


def llama3_factors(scaling: dict[str, Any], wavelens: npt.NDArray[np.float64]) -> Any:
    """The per-frequency RoPE factors mlx-lm's ``Llama3RoPE`` derives from ``scaling``."""
    factor, old = scaling["factor"], scaling["original_max_position_embeddings"]
    lo, hi = scaling["low_freq_factor"], scaling["high_freq_factor"]
    low_wavelen, high_wavelen = old / lo, old / hi
    smooth = (old / wavelens - lo) / (hi - lo)
    medium = (wavelens > high_wavelen) & (wavelens < low_wavelen)
    with np.errstate(divide="ignore", invalid="ignore"):
        smoothed = 1 / ((1 - smooth) / factor + smooth)
    return np.where(wavelens > low_wavelen, factor, np.where(medium, smoothed, 1.0))
