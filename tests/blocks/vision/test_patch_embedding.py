import numpy as np

from dlzoo.blocks.vision import PatchEmbedding
from dlzoo.testing import TestCase


def patch_embedding_reference(x, kernel, bias, patch_size):
    """Dosovitskiy et al. (2020), eq. 1: flatten each p x p patch and project it, in float64."""
    x = x.astype("float64")
    b, h, w, c = x.shape
    p = patch_size
    patches = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // p, w // p, p * p * c)
    return patches @ kernel.reshape(p * p * c, -1) + bias


def layer_norm(x, epsilon):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + epsilon)


class PatchEmbeddingTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            PatchEmbedding,
            init_kwargs={"hidden_dim": 8, "patch_size": 2},
            input_shape=(2, 4, 4, 3),
            expected_output_shape=(2, 2, 2, 8),
            expected_num_trainable_weights=4,
        )

    def test_block_basics_pre_norm_and_none(self):
        self.run_block_test(
            PatchEmbedding,
            init_kwargs={"hidden_dim": 6, "patch_size": 2, "norm_position": "pre"},
            input_shape=(2, 4, 6, 3),
            expected_output_shape=(2, 2, 3, 6),
            expected_num_trainable_weights=4,
        )
        self.run_block_test(
            PatchEmbedding,
            init_kwargs={"hidden_dim": 6, "patch_size": 4, "norm_position": "none", "use_bias": False},
            input_shape=(2, 8, 4, 1),
            expected_output_shape=(2, 2, 1, 6),
            expected_num_trainable_weights=1,
        )

    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 6, 4, 3)).astype("float32")
        kernel = rng.standard_normal((2, 2, 3, 5)).astype("float32")
        bias = rng.standard_normal((5,)).astype("float32")
        for position in ("none", "post", "pre"):
            layer = PatchEmbedding(hidden_dim=5, patch_size=2, norm_position=position, norm_epsilon=1e-6)
            layer.build(x.shape)
            layer.projection.kernel.assign(kernel)
            layer.projection.bias.assign(bias)
            inputs = layer_norm(x.astype("float64"), 1e-6) if position == "pre" else x
            expected = patch_embedding_reference(np.asarray(inputs), kernel.astype("float64"), bias, 2)
            if position == "post":
                expected = layer_norm(expected, 1e-6)
            self.assertAllClose(layer(x), expected, atol=2e-5, rtol=1e-4, msg=position)

    def test_count_params_for(self):
        for kwargs in ({}, {"norm_position": "pre"}, {"norm_position": "none", "use_bias": False}):
            layer = PatchEmbedding(hidden_dim=12, patch_size=2, **kwargs)
            expected = layer.count_params_for((1, 8, 8, 3))
            layer.build((1, 8, 8, 3))
            self.assertEqual(layer.count_params(), expected, msg=str(kwargs))
        # ConvNeXt-T stem: 4x4x3 -> 96 conv + LayerNorm(96) = 4,896.
        self.assertEqual(PatchEmbedding(hidden_dim=96, patch_size=4).count_params_for((1, 224, 224, 3)), 4896)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "hidden_dim"):
            PatchEmbedding(hidden_dim=0)
        with self.assertRaisesNamed(ValueError, "norm_position"):
            PatchEmbedding(hidden_dim=4, norm_position="middle")
        with self.assertRaisesNamed(ValueError, "patch_size"):
            PatchEmbedding(hidden_dim=4, patch_size=3).build((1, 8, 8, 1))
        with self.assertRaisesNamed(TypeError, "kernel_initializer"):
            PatchEmbedding(hidden_dim=4, kernel_initializer=3)
