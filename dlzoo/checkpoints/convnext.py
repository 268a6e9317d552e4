"""ConvNeXt checkpoints (`model_type: convnext`) <-> the `convnext` family.

Hugging Face's ConvNeXt fixes the 7x7 depthwise kernel, the 4x inverted
bottleneck and the LayerNorm epsilon of the stem, the downsampling layers and
the blocks (1e-6); `layer_norm_eps` reaches only the final norm (1e-12 in the
released configs). dlzoo has one epsilon for every LayerNorm: 1e-6, so the
final norm of such a checkpoint differs by at most 1e-6 / variance in
relative terms (the parity tests set `layer_norm_eps=1e-6`, as the original
code has it).
"""

from dlzoo.checkpoints._vision import (
    ImageClassifierConverter,
    conv_kernel,
    depthwise_kernel,
    layer_norm,
)
from dlzoo.checkpoints.converter import config_value, copy, linear, mismatches, required_value
from dlzoo.registry import register_converter

EPSILON = 1e-6


@register_converter("convnext", family="convnext",
                    reference="https://huggingface.co/docs/transformers/model_doc/convnext")
class ConvNextConverter(ImageClassifierConverter):
    """`ConvNextForImageClassification` and `ConvNextModel` (ConvNeXt v1)."""

    prefix = "convnext."
    architectures = {True: "ConvNextForImageClassification", False: "ConvNextModel"}

    def params(self, config, names):
        config_value(config, "hidden_act", "gelu", allowed=["gelu"])
        scale = config_value(config, "layer_scale_init_value", 1e-6)
        return {
            "image_shape": self.image_shape(config),
            "num_classes": self.num_classes(config, names),
            "hidden_dims": list(required_value(config, "hidden_sizes")),
            "depths": list(required_value(config, "depths")),
            "patch_size": config_value(config, "patch_size", 4),
            "kernel_size": 7,
            "intermediate_ratio": 4,
            "drop_path_rate": float(config_value(config, "drop_path_rate", 0.0)),
            "use_layer_scale": scale > 0,
            "layer_scale_init_value": scale if scale > 0 else 1e-6,
            "norm": {"type": "layer_norm", "epsilon": EPSILON},
        }

    def checkpoint_config(self, params):
        height, width, channels = params["image_shape"]
        return dict(
            num_channels=channels,
            image_size=height,
            patch_size=params["patch_size"],
            num_stages=len(params["depths"]),
            hidden_sizes=params["hidden_dims"],
            depths=params["depths"],
            hidden_act="gelu",
            layer_norm_eps=params["norm"]["epsilon"],
            layer_scale_init_value=params["layer_scale_init_value"] if params["use_layer_scale"] else 0.0,
            drop_path_rate=params["drop_path_rate"],
            **self.head_config(params),
        )

    def unsupported(self, params):
        return mismatches(params, {
            "kernel_size": (None, (7,)),
            "intermediate_ratio": (None, (4,)),
            "norm.type": (None, ("layer_norm",)),
            "norm.epsilon": (None, (EPSILON,)),
        })

    def rules(self, params):
        rules = [conv_kernel("embeddings.patch_embeddings.weight", "stem/projection/kernel"),
                 copy("embeddings.patch_embeddings.bias", "stem/projection/bias"),
                 *layer_norm("embeddings.layernorm", "stem/norm")]
        for s, depth in enumerate(params["depths"]):
            h = f"encoder.stages.{s}."
            if s > 0:
                rules += [*layer_norm(h + "downsampling_layer.0", f"downsample_{s}/norm"),
                          conv_kernel(h + "downsampling_layer.1.weight", f"downsample_{s}/projection/kernel"),
                          copy(h + "downsampling_layer.1.bias", f"downsample_{s}/projection/bias")]
            for i in range(depth):
                b, w = h + f"layers.{i}.", f"stage_{s}_block_{i}/"
                rules += [depthwise_kernel(b + "dwconv.weight", w + "depthwise_conv/kernel"),
                          copy(b + "dwconv.bias", w + "depthwise_conv/bias"),
                          *layer_norm(b + "layernorm", w + "norm"),
                          linear(b + "pwconv1.weight", w + "pointwise/inner_proj/kernel"),
                          copy(b + "pwconv1.bias", w + "pointwise/inner_proj/bias"),
                          linear(b + "pwconv2.weight", w + "pointwise/output_proj/kernel"),
                          copy(b + "pwconv2.bias", w + "pointwise/output_proj/bias")]
                if params["use_layer_scale"]:
                    rules.append(copy(b + "layer_scale_parameter", w + "layer_scale/gamma"))
        return rules + layer_norm("layernorm", "head_norm") + self.head_rules(params)
