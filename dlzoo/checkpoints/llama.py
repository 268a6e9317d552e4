"""Llama-shaped checkpoints <-> the `llama` family: `llama`, `mistral`, `qwen2`, `qwen3`.

The four share one tensor layout (`model.layers.{i}.self_attn.q_proj`, ...,
`lm_head.weight`) and differ only by switches the `llama` family already has:
biases on the attention projections (Llama's `attention_bias`: q, k, v and
output; Qwen2: q, k and v only), QK-norm (Qwen3: an RMSNorm over each head)
and sliding-window attention (Mistral, optional in Qwen2/3), which dlzoo does
not implement: it attends over the whole context, the same result for
sequences no longer than the window (a warning says so).
"""

import warnings

from dlzoo.checkpoints.converter import (
    Converter,
    config_value,
    copy,
    head_bias,
    heads_in,
    heads_out,
    linear,
    lm_head_ignored,
    lm_head_rules,
    mismatches,
    required_value,
    rope_theta_of,
    setting,
)
from dlzoo.registry import register_converter

REFERENCE = "https://huggingface.co/docs/transformers/model_doc/{}"


class LlamaShapedConverter(Converter):
    """The shared mapping; subclasses set the switches.

    Attributes:
        qkv_bias: `"config"` (read `attention_bias`), `True` or `False`.
        output_bias: the same, for the output projection.
        qk_norm: bool. RMSNorm over each query and key head.
        mlp_bias: bool. Whether `mlp_bias` is read from the config.
        default_head_dim: int or None. `head_dim` when the config has none
            (`None`: hidden size / heads).
    """

    prefix = "model."
    head_tensors = ("lm_head.weight",)
    qkv_bias = "config"
    output_bias = "config"
    qk_norm = False
    mlp_bias = False
    default_head_dim = None

    def _bias(self, switch, config):
        return bool(config_value(config, "attention_bias", False)) if switch == "config" else switch

    def params(self, config, names):
        config_value(config, "hidden_act", "silu", allowed=["silu"])
        self._warn_sliding_window(config)
        hidden_dim = required_value(config, "hidden_size")
        heads = required_value(config, "num_attention_heads")
        attention = {
            "num_heads": heads,
            "num_key_value_heads": config_value(config, "num_key_value_heads", heads),
            "use_qkv_bias": self._bias(self.qkv_bias, config),
            "use_output_bias": self._bias(self.output_bias, config),
            "attention_dropout": float(config_value(config, "attention_dropout", 0.0)),
            "use_rotary_embedding": True,
            "rope_max_wavelength": rope_theta_of(config),
            "rope_layout": "rotate_half",
        }
        head_dim = config_value(config, "head_dim", self.default_head_dim)
        if head_dim is not None and head_dim * heads != hidden_dim:
            attention["head_dim"] = head_dim
        epsilon = float(config_value(config, "rms_norm_eps", 1e-6))
        if self.qk_norm:
            attention.update(use_qk_norm=True, qk_norm="rms_norm", qk_norm_epsilon=epsilon)
        return {
            "vocabulary_size": required_value(config, "vocab_size"),
            "hidden_dim": hidden_dim,
            "num_layers": required_value(config, "num_hidden_layers"),
            "max_sequence_length": config_value(config, "max_position_embeddings", 2048),
            "dropout": 0.0,
            "norm_position": "pre",
            "tie_embeddings": bool(config_value(config, "tie_word_embeddings", False)),
            "use_lm_head": self.is_language_model(config, names),
            "attention": attention,
            "feedforward": {
                "type": "swiglu",
                "intermediate_dim": required_value(config, "intermediate_size"),
                "use_bias": bool(config_value(config, "mlp_bias", False)) if self.mlp_bias else False,
            },
            "norm": {"type": "rms_norm", "epsilon": epsilon},
        }

    def _warn_sliding_window(self, config):
        window = config.get("sliding_window")
        used = config.get("use_sliding_window", self.model_type == "mistral")
        layer_types = config.get("layer_types") or []
        sliding = (used and window is not None) or "sliding_attention" in layer_types
        if sliding and window is not None and window < config.get("max_position_embeddings", window + 1):
            warnings.warn(
                f"This {self.model_type} checkpoint uses sliding-window attention (sliding_window={window}); dlzoo "
                f"attends over the whole context: the outputs are the same for sequences of at most {window} tokens.",
                stacklevel=2,
            )

    def checkpoint_config(self, params):
        attention = params["attention"]
        heads = attention["num_heads"]
        theta = attention.get("rope_max_wavelength", 10000.0)
        config = {
            "vocab_size": params["vocabulary_size"],
            "hidden_size": params["hidden_dim"],
            "num_hidden_layers": params["num_layers"],
            "num_attention_heads": heads,
            "num_key_value_heads": attention.get("num_key_value_heads") or heads,
            "head_dim": attention.get("head_dim") or params["hidden_dim"] // heads,
            "intermediate_size": params["feedforward"]["intermediate_dim"],
            "hidden_act": "silu",
            "max_position_embeddings": params["max_sequence_length"],
            "rms_norm_eps": params["norm"]["epsilon"],
            "rope_theta": theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": theta},
            "attention_dropout": attention.get("attention_dropout", 0.0),
            "tie_word_embeddings": params["tie_embeddings"],
        }
        if "config" in (self.qkv_bias, self.output_bias):
            config["attention_bias"] = attention.get("use_qkv_bias", False)
        if self.mlp_bias:
            config["mlp_bias"] = params["feedforward"].get("use_bias", False)
        if self.model_type == "mistral":
            config["sliding_window"] = None
        elif self.model_type.startswith("qwen"):
            config["use_sliding_window"] = False
        return config

    def unsupported(self, params):
        needed = {
            "norm_position": (None, ("pre",)),
            "norm.type": (None, ("rms_norm",)),
            "feedforward.type": (None, ("swiglu",)),
            "attention.use_rotary_embedding": (False, (True,)),
            "attention.rope_layout": ("interleaved", ("rotate_half",)),
            "attention.use_qk_norm": (False, (self.qk_norm,)),
        }
        if not self.mlp_bias:
            needed["feedforward.use_bias"] = (True, (False,))
        qkv_bias = setting(params, "attention.use_qkv_bias", False)
        for key, switch in (("attention.use_qkv_bias", self.qkv_bias), ("attention.use_output_bias", self.output_bias)):
            needed[key] = (False, (qkv_bias,) if switch == "config" else (switch,))
        if self.qk_norm:
            needed["attention.qk_norm"] = ("rms_norm", ("rms_norm",))
            needed["attention.qk_norm_epsilon"] = (1e-6, (setting(params, "norm.epsilon"),))
        return mismatches(params, needed)

    def rules(self, params):
        attention = params["attention"]
        heads = attention["num_heads"]
        kv_heads = attention.get("num_key_value_heads") or heads
        qkv_bias, output_bias = attention.get("use_qkv_bias", False), attention.get("use_output_bias", False)
        rules = [copy("embed_tokens.weight", "token_embedding/embeddings")]
        for i in range(params["num_layers"]):
            h, w = f"layers.{i}.", f"decoder/transformer_layer_{i}/"
            a = w + "self_attention/"
            rules += [
                copy(h + "input_layernorm.weight", w + "self_attention_norm/scale"),
                heads_in(h + "self_attn.q_proj.weight", a + "query/kernel", heads),
                heads_in(h + "self_attn.k_proj.weight", a + "key/kernel", kv_heads),
                heads_in(h + "self_attn.v_proj.weight", a + "value/kernel", kv_heads),
                heads_out(h + "self_attn.o_proj.weight", a + "attention_output/kernel", heads),
                copy(h + "post_attention_layernorm.weight", w + "feedforward_norm/scale"),
                linear(h + "mlp.gate_proj.weight", w + "feedforward/gate_proj/kernel"),
                linear(h + "mlp.up_proj.weight", w + "feedforward/inner_proj/kernel"),
                linear(h + "mlp.down_proj.weight", w + "feedforward/output_proj/kernel"),
            ]
            if qkv_bias:
                rules += [
                    head_bias(h + "self_attn.q_proj.bias", a + "query/bias", heads),
                    head_bias(h + "self_attn.k_proj.bias", a + "key/bias", kv_heads),
                    head_bias(h + "self_attn.v_proj.bias", a + "value/bias", kv_heads),
                ]
            if output_bias:
                rules.append(copy(h + "self_attn.o_proj.bias", a + "attention_output/bias"))
            if attention.get("use_qk_norm", False):
                rules += [copy(h + "self_attn.q_norm.weight", a + "query_norm/scale"),
                          copy(h + "self_attn.k_norm.weight", a + "key_norm/scale")]
            if params["feedforward"].get("use_bias", False):
                rules += [copy(h + f"mlp.{p}_proj.bias", w + f"feedforward/{q}/bias")
                          for p, q in (("gate", "gate_proj"), ("up", "inner_proj"), ("down", "output_proj"))]
        rules.append(copy("norm.weight", "decoder/final_norm/scale"))
        return rules + lm_head_rules(params)

    def ignored(self, params):
        ignored = {r"layers\.\d+\.self_attn\.rotary_emb\.inv_freq": "RoPE frequency buffer (recomputed)"}
        return {**ignored, **lm_head_ignored(params, "embed_tokens.weight")}


@register_converter("llama", family="llama", reference=REFERENCE.format("llama"))
class LlamaConverter(LlamaShapedConverter):
    """Llama 1/2/3 (plain RoPE): `attention_bias` on q, k, v and output; `mlp_bias`."""

    architectures = {True: "LlamaForCausalLM", False: "LlamaModel"}
    mlp_bias = True


@register_converter("mistral", family="llama", reference=REFERENCE.format("mistral"))
class MistralConverter(LlamaShapedConverter):
    """Mistral: Llama without biases, sliding-window attention."""

    architectures = {True: "MistralForCausalLM", False: "MistralModel"}
    qkv_bias = False
    output_bias = False


@register_converter("qwen2", family="llama", reference=REFERENCE.format("qwen2"))
class Qwen2Converter(LlamaShapedConverter):
    """Qwen2: biases on q, k and v (not the output)."""

    architectures = {True: "Qwen2ForCausalLM", False: "Qwen2Model"}
    qkv_bias = True
    output_bias = False


@register_converter("qwen3", family="llama", reference=REFERENCE.format("qwen3"))
class Qwen3Converter(LlamaShapedConverter):
    """Qwen3: QK-norm (RMSNorm over each head), `attention_bias` on q, k, v and output, head size 128 by default."""

    architectures = {True: "Qwen3ForCausalLM", False: "Qwen3Model"}
    qk_norm = True
    default_head_dim = 128
