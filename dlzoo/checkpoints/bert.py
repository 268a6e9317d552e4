"""BERT checkpoints (`model_type: bert`) <-> the `bert` family.

`BertModel` checkpoints (with or without the pooler) and the encoder of task
checkpoints (`bert.` prefix: `BertForMaskedLM`, `BertForPreTraining`); the
pre-training heads (`cls.*`) have no dlzoo equivalent and are left out.
"""

from dlzoo.checkpoints.converter import (
    ACTIVATION_NAMES,
    Converter,
    activation_of,
    config_value,
    copy,
    head_bias,
    heads_in,
    heads_out,
    linear,
    mismatches,
    required_value,
    setting,
)
from dlzoo.registry import register_converter


@register_converter("bert", family="bert", reference="https://huggingface.co/docs/transformers/model_doc/bert")
class BertConverter(Converter):
    """`BertModel` checkpoints and the `bert.` encoder of BERT task checkpoints."""

    prefix = "bert."
    architectures = {False: "BertModel"}

    def params(self, config, names):
        config_value(config, "position_embedding_type", "absolute", allowed=["absolute"])
        config_value(config, "is_decoder", False, allowed=[False])
        config_value(config, "add_cross_attention", False, allowed=[False])
        return {
            "vocabulary_size": required_value(config, "vocab_size"),
            "hidden_dim": required_value(config, "hidden_size"),
            "num_layers": required_value(config, "num_hidden_layers"),
            "max_sequence_length": required_value(config, "max_position_embeddings"),
            "num_segments": config_value(config, "type_vocab_size", 2),
            "dropout": float(config_value(config, "hidden_dropout_prob", 0.1)),
            "norm_position": "post",
            "use_pooler": "pooler.dense.weight" in names,
            "attention": {
                "num_heads": required_value(config, "num_attention_heads"),
                "use_qkv_bias": True,
                "use_output_bias": True,
                "attention_dropout": float(config_value(config, "attention_probs_dropout_prob", 0.1)),
            },
            "feedforward": {
                "type": "mlp",
                "intermediate_dim": required_value(config, "intermediate_size"),
                "activation": activation_of(config, "hidden_act", "gelu"),
                "use_bias": True,
            },
            "norm": {"type": "layer_norm", "epsilon": float(config_value(config, "layer_norm_eps", 1e-12))},
        }

    def checkpoint_config(self, params):
        return {
            "vocab_size": params["vocabulary_size"],
            "hidden_size": params["hidden_dim"],
            "num_hidden_layers": params["num_layers"],
            "num_attention_heads": params["attention"]["num_heads"],
            "intermediate_size": params["feedforward"]["intermediate_dim"],
            "hidden_act": ACTIVATION_NAMES[params["feedforward"]["activation"]],
            "max_position_embeddings": params["max_sequence_length"],
            "type_vocab_size": params["num_segments"],
            "layer_norm_eps": params["norm"]["epsilon"],
            "hidden_dropout_prob": params["dropout"],
            "attention_probs_dropout_prob": params["attention"].get("attention_dropout", 0.0),
            "position_embedding_type": "absolute",
        }

    def unsupported(self, params):
        heads = setting(params, "attention.num_heads")
        activation = {"feedforward.activation": (None, tuple(ACTIVATION_NAMES))} if setting(
            params, "feedforward.type") == "mlp" else {}
        found = mismatches(params, {
            "norm_position": (None, ("post",)),
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
        if params.get("num_segments", 0) < 1:
            found.append(f"`num_segments`={params.get('num_segments')!r} (needs >= 1: BERT has a token-type table)")
        return found

    def has_task_head(self, params):
        return False

    def rules(self, params):
        heads = params["attention"]["num_heads"]
        rules = [
            copy("embeddings.word_embeddings.weight", "token_embedding/embeddings"),
            copy("embeddings.position_embeddings.weight", "position_embedding/embeddings"),
            copy("embeddings.LayerNorm.weight", "embeddings_norm/scale"),
            copy("embeddings.LayerNorm.bias", "embeddings_norm/bias"),
        ]
        if params["num_segments"]:
            rules.append(copy("embeddings.token_type_embeddings.weight", "segment_embedding/embeddings"))
        for i in range(params["num_layers"]):
            h, w = f"encoder.layer.{i}.", f"encoder/transformer_layer_{i}/"
            for part in ("query", "key", "value"):
                rules += [
                    heads_in(h + f"attention.self.{part}.weight", w + f"self_attention/{part}/kernel", heads),
                    head_bias(h + f"attention.self.{part}.bias", w + f"self_attention/{part}/bias", heads),
                ]
            rules += [
                heads_out(h + "attention.output.dense.weight", w + "self_attention/attention_output/kernel", heads),
                copy(h + "attention.output.dense.bias", w + "self_attention/attention_output/bias"),
                copy(h + "attention.output.LayerNorm.weight", w + "self_attention_norm/scale"),
                copy(h + "attention.output.LayerNorm.bias", w + "self_attention_norm/bias"),
                linear(h + "intermediate.dense.weight", w + "feedforward/inner_proj/kernel"),
                copy(h + "intermediate.dense.bias", w + "feedforward/inner_proj/bias"),
                linear(h + "output.dense.weight", w + "feedforward/output_proj/kernel"),
                copy(h + "output.dense.bias", w + "feedforward/output_proj/bias"),
                copy(h + "output.LayerNorm.weight", w + "feedforward_norm/scale"),
                copy(h + "output.LayerNorm.bias", w + "feedforward_norm/bias"),
            ]
        if params["use_pooler"]:
            rules += [linear("pooler.dense.weight", "pooler/dense/kernel"), copy("pooler.dense.bias", "pooler/dense/bias")]
        return rules

    def ignored(self, params):
        ignored = {
            r"embeddings\.(position_ids|token_type_ids)": "index buffer (dlzoo makes the positions)",
            r"cls\..*": "pre-training head (masked LM / next sentence): dlzoo's bert has none",
        }
        if not params["use_pooler"]:
            ignored[r"pooler\..*"] = "use_pooler=False"
        return ignored
