import numpy as np

from dlzoo.blocks import RMSNorm
from dlzoo.testing import TestCase


def rms_norm_reference(x, scale, epsilon):
    """NumPy formula from Zhang & Sennrich (2019), eq. 4, in float64."""
    x = x.astype("float64")
    return x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + epsilon) * scale


class RMSNormTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            RMSNorm,
            init_kwargs={"epsilon": 1e-5},
            input_shape=(2, 5, 16),
            expected_output_shape=(2, 5, 16),
            expected_num_trainable_weights=1,
        )

    def test_matches_numpy_reference(self):
        x = np.random.default_rng(0).standard_normal((3, 4, 8)).astype("float32")
        layer = RMSNorm(epsilon=1e-5)
        layer.build(x.shape)
        scale = np.linspace(0.5, 1.5, 8).astype("float32")
        layer.scale.assign(scale)
        self.assertAllClose(layer(x), rms_norm_reference(x, scale, 1e-5), atol=1e-6)

    def test_bfloat16_statistic_in_float32(self):
        # Large inputs overflow nothing in float32; a bfloat16 square would lose precision.
        x = (np.random.default_rng(1).standard_normal((2, 64)) * 300).astype("float32")
        out = RMSNorm(epsilon=1e-5, dtype="mixed_bfloat16")(x)
        self.assertAllClose(out, rms_norm_reference(x, 1.0, 1e-5), atol=2e-2)

    def test_count_params_for(self):
        layer = RMSNorm()
        layer.build((2, 3, 12))
        self.assertEqual(layer.count_params_for((2, 3, 12)), layer.count_params())

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "epsilon", "-1"):
            RMSNorm(epsilon=-1.0)
        with self.assertRaisesNamed(TypeError, "epsilon"):
            RMSNorm(epsilon="small")
