import math

import keras
import numpy as np
from keras import ops

from dlzoo.blocks import ALiBiBias
from dlzoo.blocks.position.alibi_bias import alibi_slopes
from dlzoo.testing import TestCase


def paper_slopes(n):
    """Press et al. (2022), section 3: geometric sequence with start = ratio = 2^(-8/n);
    for n not a power of two, the closest power of two plus every other slope of twice it."""
    if math.log2(n).is_integer():
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return start * start ** np.arange(n, dtype="float64")
    m = 2 ** math.floor(math.log2(n))
    return np.concatenate([paper_slopes(m), paper_slopes(2 * m)[0::2][: n - m]])


def alibi_reference(slopes, q_len, k_len, causal):
    out = np.zeros((1, len(slopes), q_len, k_len))
    for h, slope in enumerate(slopes):
        for i in range(q_len):
            query_position = i + k_len - q_len
            for j in range(k_len):
                distance = query_position - j
                out[0, h, i, j] = -slope * (distance if causal else abs(distance))
    return out


class ALiBiBiasTest(TestCase):
    def test_block_basics(self):
        for causal in (True, False):
            self.run_block_test(
                ALiBiBias,
                init_kwargs={"num_heads": 4, "causal": causal},
                input_shape=(2, 5, 8),
                expected_output_shape=(1, 4, 5, 5),
                expected_num_trainable_weights=0,
            )
        self.run_block_test(
            ALiBiBias,
            init_kwargs={"num_heads": 3},
            input_shape=(2, 2, 4, 8),
            expected_output_shape=(1, 3, 2, 6),
            call_kwargs={"key_length": 6},
            # The harness compares with compute_output_shape(input_shape), which
            # cannot see key_length; the symbolic path is checked below instead.
            run_symbolic_check=False,
        )

    def test_symbolic_key_length(self):
        out = ALiBiBias(num_heads=3)(keras.KerasTensor((2, 2, 8)), key_length=6)
        self.assertEqual(tuple(out.shape), (1, 3, 2, 6))
        self.assertEqual(ALiBiBias(num_heads=3).compute_output_shape((2, 2, 8), key_length=6), (1, 3, 2, 6))

    def test_slopes_match_the_paper(self):
        # The paper states the 8-head slopes: 1/2, 1/4, ..., 1/256.
        np.testing.assert_allclose(alibi_slopes(8), [2.0**-i for i in range(1, 9)], rtol=1e-12)
        np.testing.assert_allclose(alibi_slopes(8), paper_slopes(8), rtol=1e-12)
        np.testing.assert_allclose(alibi_slopes(6), paper_slopes(6), rtol=1e-12)
        np.testing.assert_allclose(alibi_slopes(6), [1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8], rtol=1e-12)
        for n in (1, 2, 5, 12, 16, 20):
            np.testing.assert_allclose(alibi_slopes(n), paper_slopes(n), rtol=1e-12)

    def test_matches_numpy_reference(self):
        x = np.zeros((2, 5, 3), "float32")
        for causal in (True, False):
            layer = ALiBiBias(num_heads=6, causal=causal)
            expected = alibi_reference(paper_slopes(6), 5, 5, causal)
            self.assertAllClose(layer(x), expected, atol=1e-6)
            expected = alibi_reference(paper_slopes(6), 5, 9, causal)
            self.assertAllClose(layer(x, key_length=9), expected, atol=1e-6)

    def test_causal_rows_on_and_below_diagonal(self):
        out = ops.convert_to_numpy(ALiBiBias(num_heads=2)(np.zeros((1, 4, 1), "float32")))
        # Two heads: slopes 2^-4 and 2^-8. Head 0, row 3 is slope * (j - 3).
        np.testing.assert_allclose(out[0, 0, 3], [-3 / 16, -2 / 16, -1 / 16, 0.0], atol=1e-7)
        self.assertTrue(np.all(np.diagonal(out[0], axis1=-2, axis2=-1) == 0))

    def test_count_params_for(self):
        self.assertEqual(ALiBiBias(num_heads=4).count_params_for((2, 5, 8)), 0)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "num_heads", "0"):
            ALiBiBias(num_heads=0)
        with self.assertRaisesNamed(TypeError, "num_heads"):
            ALiBiBias(num_heads=2.0)
        with self.assertRaisesNamed(TypeError, "causal"):
            ALiBiBias(num_heads=2, causal="yes")
