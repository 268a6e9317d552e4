"""ResNet checkpoints (`model_type: resnet`) <-> the `resnet` family.

Hugging Face's ResNet is v1.5 (the stride in the bottleneck's 3x3
convolution, `downsample_in_bottleneck=False`) with the first stage at stride
1 (`downsample_in_first_stage=False`), as dlzoo's; the other settings are
refused. Its BatchNorms use PyTorch's epsilon, 1e-5.
"""

from dlzoo.checkpoints._vision import BATCH_NORM_COUNTER, ImageClassifierConverter, batch_norm, conv_kernel
from dlzoo.checkpoints.converter import config_value, mismatches, required_value
from dlzoo.registry import register_converter

BRANCH_CONVOLUTIONS = {"basic": 2, "bottleneck": 3}


@register_converter("resnet", family="resnet", reference="https://huggingface.co/docs/transformers/model_doc/resnet")
class ResNetConverter(ImageClassifierConverter):
    """`ResNetForImageClassification` and `ResNetModel` (v1.5, basic or bottleneck blocks)."""

    prefix = "resnet."
    head = ("classifier.1.weight", "classifier.1.bias")
    architectures = {True: "ResNetForImageClassification", False: "ResNetModel"}

    def params(self, config, names):
        config_value(config, "downsample_in_first_stage", False, allowed=[False])
        config_value(config, "downsample_in_bottleneck", False, allowed=[False])
        config_value(config, "hidden_act", "relu", allowed=["relu"])
        return {
            "image_shape": self.image_shape(config),
            "num_classes": self.num_classes(config, names),
            "block_type": config_value(config, "layer_type", "bottleneck", allowed=list(BRANCH_CONVOLUTIONS)),
            "depths": list(required_value(config, "depths")),
            "hidden_dims": list(required_value(config, "hidden_sizes")),
            "stem_dim": config_value(config, "embedding_size", 64),
            "activation": "relu",
            "norm": "batch_norm",
            "norm_epsilon": 1e-5,
        }

    def checkpoint_config(self, params):
        return dict(
            num_channels=params["image_shape"][2],
            embedding_size=params["stem_dim"],
            hidden_sizes=params["hidden_dims"],
            depths=params["depths"],
            layer_type=params["block_type"],
            hidden_act="relu",
            downsample_in_first_stage=False,
            downsample_in_bottleneck=False,
            **self.head_config(params),
        )

    def unsupported(self, params):
        return mismatches(params, {
            "activation": (None, ("relu",)),
            "norm": (None, ("batch_norm",)),
            "norm_epsilon": (None, (1e-5,)),
        })

    def rules(self, params):
        rules = [conv_kernel("embedder.embedder.convolution.weight", "stem/conv/kernel"),
                 *batch_norm("embedder.embedder.normalization", "stem/norm")]
        width = params["stem_dim"]
        for s, (depth, out) in enumerate(zip(params["depths"], params["hidden_dims"])):
            for i in range(depth):
                h, w = f"encoder.stages.{s}.layers.{i}.", f"stage_{s}_block_{i}/"
                for j in range(BRANCH_CONVOLUTIONS[params["block_type"]]):
                    rules += [conv_kernel(h + f"layer.{j}.convolution.weight", w + f"conv_{j + 1}/conv/kernel"),
                              *batch_norm(h + f"layer.{j}.normalization", w + f"conv_{j + 1}/norm")]
                stride = 2 if s > 0 and i == 0 else 1
                if i == 0 and (width != out or stride != 1):  # a projection shortcut (1x1 conv + BN)
                    rules += [conv_kernel(h + "shortcut.convolution.weight", w + "shortcut/conv/kernel"),
                              *batch_norm(h + "shortcut.normalization", w + "shortcut/norm")]
                width = out
        return rules + self.head_rules(params)

    def ignored(self, params):
        return dict(BATCH_NORM_COUNTER)
