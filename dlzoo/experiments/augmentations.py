"""Training-time augmentations: drawn anew for every training batch, never applied to validation or test data.

An augmentation is a class registered with
`@dlzoo.register_component("augmentation", name)`; a composition file lists
them under `data.augment`. The runner's training batches call
`augmentation(x, rng)` on each batch's inputs with a generator seeded by
`(seed, epoch, batch index)`, so a run, a resumed run and every backend see
the same augmented batches. NumPy only: the model and backend are untouched,
so a saved or exported model has no augmentation layer in it.
"""

from typing import Optional

import numpy as np

from dlzoo.registry import register_component
from dlzoo.validation import check_int


class Augmentation:
    """Base class: override `augment_array(array, rng)`.

    Args:
        key: str or None. For inputs given as a dict, the input to augment
            (`None`: every input). Defaults to `None`.
    """

    def __init__(self, key: Optional[str] = None):
        self.key = key

    def __call__(self, x, rng: np.random.Generator):
        if isinstance(x, dict):
            return {k: (self.augment_array(np.asarray(v), rng) if self.key in (None, k) else v) for k, v in x.items()}
        return self.augment_array(np.asarray(x), rng)

    def augment_array(self, array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@register_component("augmentation", "random_shift")
class RandomShift(Augmentation):
    """Translate each image `(h, w, c)` by a random whole number of pixels, filling the uncovered border.

    Each example of the batch gets its own vertical and horizontal shift,
    drawn uniformly from `[-max_shift, max_shift]`. The translation
    invariance a convolution has by construction must be learned by a ViT;
    on small data this augmentation is what teaches it (Dosovitskiy et al.,
    2021, section 4; DeiT's recipe uses random crops, a shift by padding).

    Args:
        max_shift: int. Largest shift in pixels, in each direction. `0` turns
            it off. Defaults to `2`.
        fill: float. Value of the pixels shifted in. Defaults to `0.0`.
        key: str or None. Input to augment. Defaults to `None`.

    Reference:
        - [Touvron et al., 2021. Training data-efficient image transformers](https://arxiv.org/abs/2012.12877)
    """

    def __init__(self, max_shift: int = 2, fill: float = 0.0, key: Optional[str] = None):
        super().__init__(key)
        self.max_shift = check_int("max_shift", max_shift, min_value=0)
        if isinstance(fill, bool) or not isinstance(fill, (int, float)):
            raise TypeError(f"`fill` must be a number. Received: fill={fill!r}.")
        self.fill = float(fill)

    def augment_array(self, array, rng):
        if array.ndim != 4:
            raise ValueError(
                f"`random_shift` needs images (n, height, width, channels). Received: an array of shape {array.shape}."
            )
        if self.max_shift == 0:
            return array
        n, height, width, _ = array.shape
        s = self.max_shift
        padded = np.pad(array, ((0, 0), (s, s), (s, s), (0, 0)), constant_values=self.fill)
        shifts = rng.integers(-s, s + 1, size=(n, 2))
        out = np.empty_like(array)
        for i, (dy, dx) in enumerate(shifts):
            # out[y, x] = array[y - dy, x - dx]: the image moves down by dy and right by dx.
            out[i] = padded[i, s - dy:s - dy + height, s - dx:s - dx + width]
        return out
