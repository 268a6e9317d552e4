"""Class-label embedding with a null class and label dropout for classifier-free guidance."""

import keras
from keras import ops

from dlzoo.registry import register_block
from dlzoo.validation import check_int, check_positive_int, check_rate


@register_block(
    "class_embedding",
    paper="arXiv:2212.09748",
    example={
        "init_kwargs": {"num_classes": 10, "hidden_dim": 8, "label_dropout": 0.1},
        "inputs": {"shape": (4,), "dtype": "int32", "max": 11},
    },
)
class ClassEmbedding(keras.layers.Layer):
    """Class-label embedding with a null class for classifier-free guidance (DiT).

    A table of `num_classes + 1` rows: rows `0 .. num_classes - 1` embed the
    classes and row `num_classes` is the *null class*, the "no label" input
    of the unconditional model. In training, each label is replaced by the
    null class with probability `label_dropout`, so one network learns both
    the conditional and the unconditional prediction that classifier-free
    guidance combines (Ho and Salimans, 2022). At sampling time, pass the
    null class (`null_class == num_classes`) for the unconditional branch.
    With `label_dropout=0` there is no null row (DiT's `use_cfg_embedding =
    dropout_prob > 0`). The table is initialised from `N(0, 0.02^2)`, as in
    DiT.

    Args:
        num_classes: int. Number of classes.
        hidden_dim: int. Size of each embedding.
        label_dropout: float. Probability, in training, of replacing a label
            by the null class. Defaults to `0.1` (DiT).
        seed: int. Seed of the dropout draws. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        labels: Integer tensor of any shape `(...)`, values in
            `[0, num_classes]` (`num_classes` = the null class).
        training: bool. Whether labels are dropped.

    Returns:
        Tensor `(..., hidden_dim)` in the compute dtype.

    Example:

    >>> layer = dlzoo.blocks.ClassEmbedding(num_classes=10, hidden_dim=8)
    >>> tuple(layer(np.array([3, 7, layer.null_class])).shape)
    (3, 8)

    Notes:
        DiT draws one Bernoulli per example (`torch.rand(batch) < p`); so
        does this layer, one per label, from a `keras.random.SeedGenerator`.

    Reference:
        - [Peebles and Xie, 2023. Scalable Diffusion Models with Transformers](https://arxiv.org/abs/2212.09748)
        - [Ho and Salimans, 2022. Classifier-Free Diffusion Guidance](https://arxiv.org/abs/2207.12598)
    """

    def __init__(self, num_classes, hidden_dim, label_dropout=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.label_dropout = check_rate("label_dropout", label_dropout)
        self.seed = check_int("seed", seed, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(seed) if self.label_dropout > 0 else None

    @property
    def null_class(self):
        """The label of the null class (`num_classes`); `None` without label dropout."""
        return self.num_classes if self.label_dropout > 0 else None

    def _rows(self):
        return self.num_classes + (1 if self.label_dropout > 0 else 0)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self._rows(), self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        self.built = True

    def call(self, labels, training=None):
        labels = ops.cast(labels, "int32")
        if training and self.label_dropout > 0:
            drop = keras.random.uniform(ops.shape(labels), seed=self.seed_generator) < self.label_dropout
            labels = ops.where(drop, self.num_classes, labels)
        return ops.take(ops.cast(self.embeddings, self.compute_dtype), labels, axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.hidden_dim,)

    def count_params_for(self, input_shape):
        return self._rows() * self.hidden_dim

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (a table look-up, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "hidden_dim": self.hidden_dim,
                "label_dropout": self.label_dropout,
                "seed": self.seed,
            }
        )
        return config
