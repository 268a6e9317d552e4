"""EfficientNet checkpoints (`model_type: efficientnet`) <-> the `efficientnet` family.

Hugging Face's EfficientNet hard-codes the stem (32 channels before scaling)
and the top convolution (1280 before scaling, so `hidden_dim` must be the
scaled 1280), and pads its convolutions TensorFlow-style ("same"), as dlzoo's
`padding="same"`. Its blocks are numbered across stages (`encoder.blocks.{k}`);
dlzoo names them `stage_{s}_block_{i}`. BatchNorm momentum is not mapped: it
only changes how fine-tuning updates the statistics, and Hugging Face passes
its `batch_norm_momentum` to PyTorch, whose convention is the opposite of
Keras'.
"""

from dlzoo.checkpoints._vision import (
    BATCH_NORM_COUNTER,
    ImageClassifierConverter,
    batch_norm,
    conv_kernel,
    depthwise_kernel,
    pointwise_as_dense,
)
from dlzoo.checkpoints.converter import config_value, copy, mismatches, required_value
from dlzoo.families.efficientnet import scale_depth, scale_width
from dlzoo.registry import register_converter

STEM_DIM, TOP_CONV_DIM = 32, 1280


@register_converter("efficientnet", family="efficientnet",
                    reference="https://huggingface.co/docs/transformers/model_doc/efficientnet")
class EfficientNetConverter(ImageClassifierConverter):
    """`EfficientNetForImageClassification` and `EfficientNetModel` (B0-B7 layouts)."""

    prefix = "efficientnet."
    architectures = {True: "EfficientNetForImageClassification", False: "EfficientNetModel"}

    def params(self, config, names):
        config_value(config, "hidden_act", "swish", allowed=["swish", "silu"])
        config_value(config, "pooling_type", "mean", allowed=["mean"])
        config_value(config, "depthwise_padding", [], allowed=[[]])
        width = float(config_value(config, "width_coefficient", 2.0))
        divisor = config_value(config, "depth_divisor", 8)
        out_channels = list(required_value(config, "out_channels"))
        config_value(config, "in_channels", None, allowed=[[STEM_DIM] + out_channels[:-1]])
        config_value(config, "hidden_dim", None, allowed=[scale_width(TOP_CONV_DIM, width, divisor)])
        return {
            "image_shape": self.image_shape(config, default=600),
            "num_classes": self.num_classes(config, names),
            "width_multiplier": width,
            "depth_multiplier": float(config_value(config, "depth_coefficient", 3.1)),
            "channel_divisor": divisor,
            "stem_dim": STEM_DIM,
            "hidden_dims": out_channels,
            "depths": list(required_value(config, "num_block_repeats")),
            "kernel_sizes": list(required_value(config, "kernel_sizes")),
            "strides": list(required_value(config, "strides")),
            "expand_ratios": list(required_value(config, "expand_ratios")),
            "top_conv_dim": TOP_CONV_DIM,
            "squeeze_ratio": float(config_value(config, "squeeze_expansion_ratio", 0.25)),
            "activation": "silu",
            "padding": "same",
            "norm": "batch_norm",
            "norm_epsilon": float(config_value(config, "batch_norm_eps", 1e-3)),
            "drop_path_rate": float(config_value(config, "drop_connect_rate", 0.2)),
            "dropout": float(config_value(config, "dropout_rate", 0.5)),
        }

    def checkpoint_config(self, params):
        height, width, channels = params["image_shape"]
        return dict(
            num_channels=channels,
            image_size=height,
            width_coefficient=params["width_multiplier"],
            depth_coefficient=params["depth_multiplier"],
            depth_divisor=params["channel_divisor"],
            in_channels=[STEM_DIM] + params["hidden_dims"][:-1],
            out_channels=params["hidden_dims"],
            kernel_sizes=params["kernel_sizes"],
            strides=params["strides"],
            num_block_repeats=params["depths"],
            expand_ratios=params["expand_ratios"],
            squeeze_expansion_ratio=params["squeeze_ratio"],
            hidden_act="swish",
            hidden_dim=scale_width(TOP_CONV_DIM, params["width_multiplier"], params["channel_divisor"]),
            pooling_type="mean",
            batch_norm_eps=params["norm_epsilon"],
            drop_connect_rate=params["drop_path_rate"],
            dropout_rate=params["dropout"],
            depthwise_padding=[],
            **self.head_config(params),
        )

    def unsupported(self, params):
        found = mismatches(params, {
            "stem_dim": (None, (STEM_DIM,)),
            "top_conv_dim": (None, (TOP_CONV_DIM,)),
            "activation": (None, ("silu",)),
            "padding": (None, ("same",)),
            "norm": (None, ("batch_norm",)),
        })
        height, width, _ = params["image_shape"]
        if height != width:
            found.append(f"`image_shape`={params['image_shape']!r} (EfficientNetConfig's image_size is square)")
        return found

    def rules(self, params):
        rules = [conv_kernel("embeddings.convolution.weight", "stem/conv/kernel"),
                 *batch_norm("embeddings.batchnorm", "stem/norm")]
        k = 0
        for s, depth in enumerate(params["depths"]):
            for i in range(scale_depth(depth, params["depth_multiplier"])):
                h, w = f"encoder.blocks.{k}.", f"stage_{s}_block_{i}/"
                if params["expand_ratios"][s] != 1:
                    rules += [conv_kernel(h + "expansion.expand_conv.weight", w + "expand/conv/kernel"),
                              *batch_norm(h + "expansion.expand_bn", w + "expand/norm")]
                rules += [depthwise_kernel(h + "depthwise_conv.depthwise_conv.weight", w + "depthwise/conv/kernel"),
                          *batch_norm(h + "depthwise_conv.depthwise_norm", w + "depthwise/norm")]
                for part in ("reduce", "expand"):
                    rules += [pointwise_as_dense(h + f"squeeze_excite.{part}.weight",
                                                 w + f"squeeze_excitation/{part}/kernel"),
                              copy(h + f"squeeze_excite.{part}.bias", w + f"squeeze_excitation/{part}/bias")]
                rules += [conv_kernel(h + "projection.project_conv.weight", w + "project/conv/kernel"),
                          *batch_norm(h + "projection.project_bn", w + "project/norm")]
                k += 1
        rules += [conv_kernel("encoder.top_conv.weight", "top_conv/conv/kernel"),
                  *batch_norm("encoder.top_bn", "top_conv/norm")]
        return rules + self.head_rules(params)

    def ignored(self, params):
        return dict(BATCH_NORM_COUNTER)
