"""GPT-2 checkpoints (`model_type: gpt2`) <-> the `gpt` family.

GPT-2 stores its projections as `Conv1D` weights, `(in, out)`: no transpose,
and the query, key and value projections side by side in one `c_attn`.
"""

from dlzoo.checkpoints.converter import (
    ACTIVATION_NAMES,
    Converter,
    activation_of,
    config_value,
    copy,
    fused,
    head_bias,
    heads_in,
    heads_out,
    linear,
    lm_head_ignored,
    lm_head_rules,
    mismatches,
    required_value,
    setting,
)
from dlzoo.registry import register_converter


@register_converter("gpt2", family="gpt", reference="https://huggingface.co/docs/transformers/model_doc/gpt2")
class GPT2Converter(Converter):
    """`GPT2Model` / `GPT2LMHeadModel` checkpoints."""

    prefix = "transformer."
    head_tensors = ("lm_head.weight",)
    architectures = {True: "GPT2LMHeadModel", False: "GPT2Model"}

    def params(self, config, names):
        config_value(config, "scale_attn_weights", True, allowed=[True])
        config_value(config, "scale_attn_by_inverse_layer_idx", False, allowed=[False])
        config_value(config, "add_cross_attention", False, allowed=[False])
        hidden_dim = required_value(config, "n_embd")
        return {
            "vocabulary_size": required_value(config, "vocab_size"),
            "hidden_dim": hidden_dim,
            "num_layers": required_value(config, "n_layer"),
            "max_sequence_length": required_value(config, "n_positions"),
            "dropout": float(config_value(config, "resid_pdrop", 0.1)),
            "norm_position": "pre",
            "tie_embeddings": bool(config_value(config, "tie_word_embeddings", True)),
            "use_lm_head": self.is_language_model(config, names),
            "attention": {
                "num_heads": required_value(config, "n_head"),
                "use_qkv_bias": True,
                "use_output_bias": True,
                "attention_dropout": float(config_value(config, "attn_pdrop", 0.1)),
            },
            "feedforward": {
                "type": "mlp",
                "intermediate_dim": config_value(config, "n_inner", 4 * hidden_dim),
                "activation": activation_of(config, "activation_function", "gelu_new"),
                "use_bias": True,
            },
            "norm": {"type": "layer_norm", "epsilon": float(config_value(config, "layer_norm_epsilon", 1e-5))},
        }

    def checkpoint_config(self, params):
        return {
            "vocab_size": params["vocabulary_size"],
            "n_embd": params["hidden_dim"],
            "n_layer": params["num_layers"],
            "n_head": params["attention"]["num_heads"],
            "n_inner": params["feedforward"]["intermediate_dim"],
            "n_positions": params["max_sequence_length"],
            "activation_function": ACTIVATION_NAMES[params["feedforward"]["activation"]],
            "layer_norm_epsilon": params["norm"]["epsilon"],
            "resid_pdrop": params["dropout"],
            "embd_pdrop": params["dropout"],
            "attn_pdrop": params["attention"].get("attention_dropout", 0.0),
            "tie_word_embeddings": params["tie_embeddings"],
            "scale_attn_weights": True,
        }

    def unsupported(self, params):
        heads = setting(params, "attention.num_heads")
        activation = {"feedforward.activation": (None, tuple(ACTIVATION_NAMES))} if setting(
            params, "feedforward.type") == "mlp" else {}
        return mismatches(params, {
            "norm_position": (None, ("pre",)),
            "norm.type": (None, ("layer_norm",)),
            "feedforward.type": (None, ("mlp",)),
            "feedforward.use_bias": (True, (True,)),
            "attention.use_qkv_bias": (False, (True,)),
            "attention.use_output_bias": (False, (True,)),
            "attention.use_rotary_embedding": (False, (False,)),
            "attention.use_qk_norm": (False, (False,)),
            "attention.num_key_value_heads": (None, (None, heads)),
            "attention.head_dim": (None, (None, params["hidden_dim"] // heads)),
            **activation,
        })

    def rules(self, params):
        heads = params["attention"]["num_heads"]
        rules = [
            copy("wte.weight", "token_embedding/embeddings"),
            copy("wpe.weight", "position_embedding/embeddings"),
        ]
        for i in range(params["num_layers"]):
            h, w = f"h.{i}.", f"decoder/transformer_layer_{i}/"
            attention = w + "self_attention/"
            rules += [
                copy(h + "ln_1.weight", w + "self_attention_norm/scale"),
                copy(h + "ln_1.bias", w + "self_attention_norm/bias"),
                fused(h + "attn.c_attn.weight", [attention + f"{p}/kernel" for p in ("query", "key", "value")],
                      lambda name, weight: heads_in(name, weight, heads, transposed=False)),
                fused(h + "attn.c_attn.bias", [attention + f"{p}/bias" for p in ("query", "key", "value")],
                      lambda name, weight: head_bias(name, weight, heads)),
                heads_out(h + "attn.c_proj.weight", attention + "attention_output/kernel", heads, transposed=False),
                copy(h + "attn.c_proj.bias", attention + "attention_output/bias"),
                copy(h + "ln_2.weight", w + "feedforward_norm/scale"),
                copy(h + "ln_2.bias", w + "feedforward_norm/bias"),
                copy(h + "mlp.c_fc.weight", w + "feedforward/inner_proj/kernel"),
                copy(h + "mlp.c_fc.bias", w + "feedforward/inner_proj/bias"),
                copy(h + "mlp.c_proj.weight", w + "feedforward/output_proj/kernel"),
                copy(h + "mlp.c_proj.bias", w + "feedforward/output_proj/bias"),
            ]
        rules += [copy("ln_f.weight", "decoder/final_norm/scale"), copy("ln_f.bias", "decoder/final_norm/bias")]
        return rules + lm_head_rules(params)

    def ignored(self, params):
        ignored = {r"h\.\d+\.attn\.(masked_)?bias": "causal-mask buffer (dlzoo makes the mask)"}
        return {**ignored, **lm_head_ignored(params, "wte.weight")}
