"""ViT checkpoints (`model_type: vit`) <-> the `vit` family.

`ViTForImageClassification` (a class token, a linear head on its final
state) and `ViTModel`, whose pooler (dense + tanh on the class token) dlzoo's
`vit` does not have: it is left out, and the model outputs the normalized
class token (`pooled_output`) instead.
"""

from dlzoo.checkpoints._vision import (
    ImageClassifierConverter,
    conv_kernel,
    layer_norm,
    squeezed,
)
from dlzoo.checkpoints.converter import (
    ACTIVATION_NAMES,
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


@register_converter("vit", family="vit", reference="https://huggingface.co/docs/transformers/model_doc/vit")
class ViTConverter(ImageClassifierConverter):
    """`ViTForImageClassification` and `ViTModel` (its pooler left out)."""

    prefix = "vit."
    architectures = {True: "ViTForImageClassification", False: "ViTModel"}

    def params(self, config, names):
        use_qkv_bias = bool(config_value(config, "qkv_bias", True))
        return {
            "image_shape": self.image_shape(config),
            "patch_size": required_value(config, "patch_size"),
            "hidden_dim": required_value(config, "hidden_size"),
            "num_layers": required_value(config, "num_hidden_layers"),
            "num_classes": self.num_classes(config, names),
            "pooling": "cls",
            "dropout": float(config_value(config, "hidden_dropout_prob", 0.0)),
            "attention": {
                "num_heads": required_value(config, "num_attention_heads"),
                "use_qkv_bias": use_qkv_bias,
                "use_output_bias": True,
                "attention_dropout": float(config_value(config, "attention_probs_dropout_prob", 0.0)),
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
        height, width, channels = params["image_shape"]
        return dict(
            image_size=height if height == width else [height, width],
            num_channels=channels,
            patch_size=params["patch_size"],
            hidden_size=params["hidden_dim"],
            num_hidden_layers=params["num_layers"],
            num_attention_heads=params["attention"]["num_heads"],
            intermediate_size=params["feedforward"]["intermediate_dim"],
            hidden_act=ACTIVATION_NAMES[params["feedforward"]["activation"]],
            hidden_dropout_prob=params["dropout"],
            attention_probs_dropout_prob=params["attention"].get("attention_dropout", 0.0),
            layer_norm_eps=params["norm"]["epsilon"],
            qkv_bias=params["attention"].get("use_qkv_bias", False),
            **self.head_config(params),
        )

    def unsupported(self, params):
        heads = setting(params, "attention.num_heads")
        activation = {"feedforward.activation": (None, tuple(ACTIVATION_NAMES))} if setting(
            params, "feedforward.type") == "mlp" else {}
        found = mismatches(params, {
            "pooling": (None, ("cls",)),
            "position_grid_size": (None, (None,)),
            "norm.type": (None, ("layer_norm",)),
            "feedforward.type": (None, ("mlp",)),
            "feedforward.use_bias": (True, (True,)),
            "attention.use_output_bias": (False, (True,)),
            "attention.use_rotary_embedding": (False, (False,)),
            "attention.use_qk_norm": (False, (False,)),
            "attention.num_key_value_heads": (None, (None, heads)),
            "attention.head_dim": (None, (None, params["hidden_dim"] // heads)),
            **activation,
        })
        height, width, _ = params["image_shape"]
        if height != width:
            found.append(f"`image_shape`={params['image_shape']!r} (ViTConfig's image_size is square)")
        return found

    def rules(self, params):
        heads = params["attention"]["num_heads"]
        qkv_bias = params["attention"].get("use_qkv_bias", False)
        e = "embeddings."
        rules = [
            conv_kernel(e + "patch_embeddings.projection.weight", "patch_embedding/projection/kernel"),
            copy(e + "patch_embeddings.projection.bias", "patch_embedding/projection/bias"),
            squeezed(e + "cls_token", "class_token/token", (0, 1)),
            squeezed(e + "position_embeddings", "position_embedding/embeddings", (0,)),
        ]
        for i in range(params["num_layers"]):
            h, w = f"encoder.layer.{i}.", f"encoder/transformer_layer_{i}/"
            for part in ("query", "key", "value"):
                rules.append(heads_in(h + f"attention.attention.{part}.weight", w + f"self_attention/{part}/kernel",
                                      heads))
                if qkv_bias:
                    rules.append(head_bias(h + f"attention.attention.{part}.bias", w + f"self_attention/{part}/bias",
                                           heads))
            rules += [
                heads_out(h + "attention.output.dense.weight", w + "self_attention/attention_output/kernel", heads),
                copy(h + "attention.output.dense.bias", w + "self_attention/attention_output/bias"),
                *layer_norm(h + "layernorm_before", w + "self_attention_norm"),
                *layer_norm(h + "layernorm_after", w + "feedforward_norm"),
                linear(h + "intermediate.dense.weight", w + "feedforward/inner_proj/kernel"),
                copy(h + "intermediate.dense.bias", w + "feedforward/inner_proj/bias"),
                linear(h + "output.dense.weight", w + "feedforward/output_proj/kernel"),
                copy(h + "output.dense.bias", w + "feedforward/output_proj/bias"),
            ]
        return rules + layer_norm("layernorm", "encoder/final_norm") + self.head_rules(params)

    def ignored(self, params):
        return {r"pooler\..*": "ViTModel's pooler (dense + tanh): dlzoo's vit has none",
                r"embeddings\.mask_token": "masked-image-modeling token (pre-training only)"}
