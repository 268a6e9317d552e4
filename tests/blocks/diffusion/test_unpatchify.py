import keras
import numpy as np

from dlzoo.blocks import PatchEmbedding, Unpatchify
from dlzoo.testing import TestCase


def dit_unpatchify(tokens, p, c):
    """DiT's `unpatchify` (square grid), then channels-last: (n, t, p*p*c) -> (n, h, w, c)."""
    n, t, _ = tokens.shape
    g = int(round(t**0.5))
    x = tokens.reshape(n, g, g, p, p, c)
    x = np.einsum("nhwpqc->nchpwq", x).reshape(n, c, g * p, g * p)
    return x.transpose(0, 2, 3, 1)


def patchify(images, p):
    """Cut (n, h, w, c) into row-major tokens of (p_row, p_column, channel) patches."""
    n, h, w, c = images.shape
    tokens = []
    for i in range(h // p):
        for j in range(w // p):
            tokens.append(images[:, i * p:(i + 1) * p, j * p:(j + 1) * p, :].reshape(n, -1))
    return np.stack(tokens, axis=1)


class UnpatchifyTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            Unpatchify,
            init_kwargs={"patch_size": 2, "height": 4, "width": 6},
            input_shape=(2, 6, 12),
            expected_output_shape=(2, 4, 6, 3),
            expected_num_trainable_weights=0,
        )

    def test_matches_dit_unpatchify(self):
        tokens = np.random.default_rng(0).standard_normal((2, 16, 2 * 2 * 3)).astype("float32")
        out = Unpatchify(patch_size=2, height=8, width=8)(tokens)
        self.assertAllClose(out, dit_unpatchify(tokens, 2, 3), atol=0)

    def test_inverts_patchify_on_a_rectangle(self):
        images = np.random.default_rng(1).standard_normal((2, 6, 9, 2)).astype("float32")
        out = Unpatchify(patch_size=3, height=6, width=9)(patchify(images, 3))
        self.assertAllClose(out, images, atol=0)

    def test_token_layout_is_the_patch_embedding_kernel_layout(self):
        # PatchEmbedding (kernel = stride = p) equals tokens @ kernel.reshape(p*p*c, d): the layout
        # Unpatchify inverts.
        images = np.random.default_rng(2).standard_normal((1, 4, 4, 3)).astype("float32")
        embed = PatchEmbedding(hidden_dim=5, patch_size=2, norm_position="none")
        grid = keras.ops.convert_to_numpy(embed(images))  # (1, 2, 2, 5)
        kernel = keras.ops.convert_to_numpy(embed.projection.kernel).reshape(12, 5)
        bias = keras.ops.convert_to_numpy(embed.projection.bias)
        self.assertAllClose(grid.reshape(1, 4, 5), patchify(images, 2) @ kernel + bias, atol=1e-5)

    def test_rejects_bad_arguments_and_shapes(self):
        with self.assertRaisesNamed(ValueError, "height", "15"):
            Unpatchify(patch_size=2, height=15, width=16)
        with self.assertRaisesNamed(ValueError, "width", "7"):
            Unpatchify(patch_size=2, height=16, width=7)
        with self.assertRaisesNamed(ValueError, "patch_size", "0"):
            Unpatchify(patch_size=0, height=4, width=4)
        layer = Unpatchify(patch_size=2, height=4, width=4)
        with self.assertRaisesNamed(ValueError, "(2, 4, 6)"):
            layer.build((2, 4, 6))  # 6 is not a multiple of p * p
        with self.assertRaisesNamed(ValueError, "4 tokens"):
            layer.build((2, 5, 8))
        self.assertEqual(layer.count_params_for((2, 4, 8)), 0)
