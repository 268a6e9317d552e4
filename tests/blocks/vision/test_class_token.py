import keras
import numpy as np

from dlzoo.blocks.vision import ClassToken
from dlzoo.testing import TestCase


class ClassTokenTest(TestCase):
    def test_block_basics(self):
        self.run_block_test(
            ClassToken,
            init_kwargs={},
            input_shape=(2, 5, 8),
            expected_output_shape=(2, 6, 8),
            expected_num_trainable_weights=1,
        )

    def test_matches_numpy_reference(self):
        # Dosovitskiy et al. (2020), eq. 1: z_0 = [x_class; x_p^1 E; ...; x_p^N E]; the same x_class for every image.
        rng = np.random.default_rng(0)
        x = rng.standard_normal((3, 4, 6)).astype("float32")
        token = rng.standard_normal((6,)).astype("float32")
        layer = ClassToken()
        layer.build(x.shape)
        layer.token.assign(token)
        expected = np.concatenate([np.broadcast_to(token.astype("float64"), (3, 1, 6)), x.astype("float64")], axis=1)
        self.assertAllClose(layer(x), expected, atol=0, rtol=0)

    def test_initializer(self):
        layer = ClassToken(initializer_stddev=0.0)
        layer.build((1, 4, 16))
        self.assertAllClose(layer.token, np.zeros(16), atol=0, rtol=0)
        layer = ClassToken(initializer_stddev=0.02)
        layer.build((1, 4, 4096))
        token = keras.ops.convert_to_numpy(layer.token)
        self.assertLess(np.abs(token).max(), 2 * 0.02 + 1e-6)  # truncated at two standard deviations
        self.assertGreater(token.std(), 0.01)

    def test_count_params_for(self):
        self.assertEqual(ClassToken().count_params_for((None, 196, 768)), 768)

    def test_rejects_bad_arguments(self):
        with self.assertRaisesNamed(ValueError, "initializer_stddev", "-1"):
            ClassToken(initializer_stddev=-1.0)
        with self.assertRaisesNamed(ValueError, "input_shape"):
            ClassToken().build((2, 4, 4, 8))
