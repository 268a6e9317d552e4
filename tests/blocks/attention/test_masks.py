import numpy as np

from keras import ops

from dlzoo.blocks.attention.masks import causal_mask, diagonal_mask, merge_masks, shifted_causal_mask
from dlzoo.testing import TestCase


def lower_triangular_reference(q_len, k_len, offset):
    """Entry [i, j] is True when key j is at most i + offset (loops, no NumPy tricks)."""
    out = np.zeros((q_len, k_len), dtype=bool)
    for i in range(q_len):
        for j in range(k_len):
            out[i, j] = j <= i + offset
    return out


def np_mask(x):
    return np.asarray(ops.convert_to_numpy(x)).astype(bool)


class MasksTest(TestCase):
    def test_causal_mask_square(self):
        mask = np_mask(causal_mask(4, 4))
        self.assertEqual(mask.shape, (1, 4, 4))
        np.testing.assert_array_equal(mask[0], np.tril(np.ones((4, 4), bool)))

    def test_causal_mask_with_offset(self):
        # Decoding: 2 new queries at positions 3, 4 of a cache of 6 slots.
        for offset in (3, ops.convert_to_tensor(3, dtype="int32")):
            mask = np_mask(causal_mask(2, 6, offset=offset))
            self.assertEqual(mask.shape, (1, 2, 6))
            np.testing.assert_array_equal(mask[0], lower_triangular_reference(2, 6, 3))
        np.testing.assert_array_equal(mask[0, 0], [True, True, True, True, False, False])

    def test_diagonal_mask(self):
        mask = np_mask(diagonal_mask(5))
        self.assertEqual(mask.shape, (1, 5, 5))
        np.testing.assert_array_equal(mask[0], np.eye(5, dtype=bool))

    def test_shifted_causal_mask_scalar(self):
        # LCM pre-training: query i sees the zero key (0) and context keys 1..i.
        mask = np_mask(shifted_causal_mask(3, 4, 0))
        np.testing.assert_array_equal(mask[0], lower_triangular_reference(3, 4, 0))
        mask = np_mask(shifted_causal_mask(3, 6, 2))
        np.testing.assert_array_equal(mask[0], lower_triangular_reference(3, 6, 2))
        self.assertEqual(int(mask[0, 0].sum()), 3)  # row 0 sees keys 0..2

    def test_shifted_causal_mask_per_sample(self):
        shifts = np.array([0, 2, -1], dtype="int32")
        mask = np_mask(shifted_causal_mask(3, 5, shifts))
        self.assertEqual(mask.shape, (3, 3, 5))
        for b, shift in enumerate(shifts):
            np.testing.assert_array_equal(mask[b], lower_triangular_reference(3, 5, int(shift)))
        self.assertFalse(mask[2, 0].any())  # negative shift: row 0 sees nothing

    def test_merge_masks(self):
        padding = np.array([[True, True, False], [True, False, False]])
        attention = np.array([[[True, False, True], [True, True, True]]])  # (1, 2, 3)
        merged = np_mask(merge_masks(padding, attention))
        self.assertEqual(merged.shape, (2, 2, 3))
        for b in range(2):
            for i in range(2):
                for j in range(3):
                    self.assertEqual(merged[b, i, j], bool(padding[b, j] and attention[0, i, j]))
        only_padding = np_mask(merge_masks(padding_mask=padding))
        self.assertEqual(only_padding.shape, (2, 1, 3))
        np.testing.assert_array_equal(only_padding[:, 0], padding)
        self.assertIsNone(merge_masks())
        several = np_mask(merge_masks(None, [causal_mask(3, 3), diagonal_mask(3), None]))
        np.testing.assert_array_equal(several[0], np.eye(3, dtype=bool))

    def test_merge_masks_accepts_int_masks(self):
        merged = merge_masks(np.array([[1, 0]], dtype="int32"), np.ones((1, 2, 2), "int32"))
        self.assertEqual(ops.convert_to_numpy(merged).dtype, np.bool_)

    def test_rejects_bad_shapes(self):
        with self.assertRaisesNamed(ValueError, "padding_mask", "(batch, k_len)"):
            merge_masks(np.ones((2, 3, 4), bool))
        with self.assertRaisesNamed(ValueError, "attention_mask"):
            merge_masks(attention_mask=np.ones((3, 4), bool))
        with self.assertRaisesNamed(ValueError, "offset", "shape"):
            shifted_causal_mask(2, 2, np.zeros((2, 2), "int32"))
