"""Class token: a learned vector prepended to a token sequence, read out as the sequence's summary."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_float


def _token_shape(input_shape):
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise ValueError(
            "ClassToken expects tokens of shape (batch, num_tokens, hidden_dim) with a known hidden_dim. "
            f"Received: input_shape={tuple(input_shape)}."
        )
    return input_shape[1], int(input_shape[-1])


@register_block(
    "class_token",
    paper="arXiv:2010.11929",
    example={"init_kwargs": {}, "inputs": (2, 5, 8)},
)
class ClassToken(keras.layers.Layer):
    """Class token: prepend one learned `hidden_dim` vector to every sequence.

    ViT (following BERT's `[CLS]`) puts a learned embedding in front of the
    patch tokens; after the encoder, that position's state is the image
    representation the classifier reads. The token has no content of its
    own, so everything it carries at the output was gathered by attention
    from the patches. The sequence grows by one: `(b, n, d) -> (b, 1 + n, d)`.

    Args:
        initializer_stddev: float. Standard deviation of the truncated-normal
            initializer of the token; `0.0` starts it at zero (the original
            ViT code). Defaults to `0.02` (DeiT, Hugging Face ViT).
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor of shape `(batch, num_tokens, hidden_dim)`.

    Returns:
        Tensor of shape `(batch, 1 + num_tokens, hidden_dim)`; position 0 is the
        class token.

    Example:

    >>> layer = dlzoo.blocks.ClassToken()
    >>> tuple(layer(np.zeros((2, 4, 8))).shape)
    (2, 5, 8)

    Reference:
        - [Dosovitskiy et al., 2020. An Image is Worth 16x16 Words](https://arxiv.org/abs/2010.11929), section 3.1, eq. 1
        - [Devlin et al., 2019. BERT](https://arxiv.org/abs/1810.04805) (the `[CLS]` token)
    """

    def __init__(self, initializer_stddev=0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_stddev = check_float("initializer_stddev", initializer_stddev, min_value=0.0)

    def build(self, input_shape):
        # Shape legend: b = batch, n = num_tokens, d = hidden_dim.
        _, d = _token_shape(input_shape)
        initializer = (
            keras.initializers.TruncatedNormal(stddev=self.initializer_stddev)
            if self.initializer_stddev > 0
            else "zeros"
        )
        self.token = self.add_weight(name="token", shape=(d,), initializer=initializer)
        self.built = True

    def call(self, inputs):
        batch, d = ops.shape(inputs)[0], ops.shape(inputs)[-1]
        token = ops.cast(ops.convert_to_tensor(self.token), inputs.dtype)
        token = ops.broadcast_to(ops.reshape(token, (1, 1, -1)), (batch, 1, d))  # (b, 1, d)
        return ops.concatenate([token, inputs], axis=1)  # (b, 1 + n, d)

    def compute_output_shape(self, input_shape):
        n, d = _token_shape(input_shape)
        return (input_shape[0], None if n is None else n + 1, d)

    def count_params_for(self, input_shape):
        return _token_shape(input_shape)[1]

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a concatenation, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config["initializer_stddev"] = self.initializer_stddev
        return config
