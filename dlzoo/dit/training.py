"""Training a DiT with the DDPM objective: noised batches from the shared `DDIMScheduler`.

The model learns epsilon prediction (Ho et al., 2020): for an image `x0`, a
timestep `t ~ U{0 .. T-1}` and noise `eps ~ N(0, I)`, it sees
`x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps` and regresses `eps`
(mean squared error). The noising runs in NumPy on the host, from the same
`dlzoo.diffusion.DDIMScheduler` tables the sampler uses, so `model.fit` needs
nothing special and any backend trains the same way.
"""

import math

import numpy as np

import keras

from dlzoo.diffusion import DDIMScheduler
from dlzoo.validation import check_bool, check_positive_int


def dit_scheduler(num_train_timesteps: int = 1000, beta_schedule: str = "linear", clip_sample: bool = False):
    """The DiT noise schedule and DDIM sampler settings (a `DDIMScheduler`).

    Linear betas from `1e-4` to `0.02` over `T` steps (DiT, after DDPM), no
    zero-terminal-SNR rescale, epsilon prediction, trailing timesteps with
    exactly the requested number of steps.

    Args:
        num_train_timesteps: int. `T`. Defaults to `1000`.
        beta_schedule: str. `"linear"` (DiT) or `"squaredcos_cap_v2"` (the
            cosine schedule of Improved DDPM: 6% of its steps have a
            signal-to-noise ratio below 0.01, against a third for the linear
            one). A model must be sampled with the schedule it was trained
            with. Defaults to `"linear"`.
        clip_sample: bool. Clip the predicted x0 to [-1, 1] at each sampling
            step (for pixels in [-1, 1]; DiT works on VAE latents and does
            not clip). Defaults to `False`.
    """
    return DDIMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        beta_start=1e-4,
        beta_end=0.02,
        rescale_betas_zero_snr=False,
        prediction_type="epsilon",
        clip_sample=check_bool("clip_sample", clip_sample),
        timestep_spacing="trailing",
        reproduce_step_quirk=False,
    )


def noised_batch(images, scheduler: DDIMScheduler, rng: np.random.Generator):
    """One DDPM training batch: `(x_t, t, eps)` for clean images `(b, h, w, c)`.

    Returns:
        `x_t` float32 `(b, h, w, c)`, `t` int32 `(b,)`, `eps` float32 `(b, h, w, c)`.
    """
    images = np.asarray(images, "float32")
    timesteps = rng.integers(0, scheduler.num_train_timesteps, size=images.shape[0]).astype("int32")
    noise = rng.standard_normal(images.shape).astype("float32")
    flat = images.reshape(images.shape[0], -1)
    noisy = scheduler.add_noise(flat, noise.reshape(flat.shape), timesteps).reshape(images.shape)
    return noisy, timesteps, noise


class NoisedImages(keras.utils.PyDataset):
    """Batches `({"latents": x_t, "timesteps": t, "class_labels": y}, eps)` for `model.fit`.

    Each epoch shuffles the images and draws fresh timesteps and noise from
    one NumPy generator (`seed`), so a run is reproducible.

    Args:
        images: array `(n, h, w, c)`: clean images (or latents), scaled as
            the model should generate them (e.g. pixels in [-1, 1]).
        labels: int array `(n,)`: class labels.
        scheduler: `DDIMScheduler`. Defaults to `dit_scheduler()`.
        batch_size: int. Defaults to `64`.
        seed: int. Seed of the shuffling, timesteps and noise. Defaults to `0`.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`, ...).
    """

    def __init__(self, images, labels, scheduler=None, batch_size=64, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.images = np.asarray(images, "float32")
        self.labels = np.asarray(labels, "int32")
        if self.images.ndim != 4 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                "`images` must be (n, height, width, channels) and `labels` (n,). "
                f"Received: images.shape={self.images.shape}, labels.shape={self.labels.shape}."
            )
        self.scheduler = scheduler or dit_scheduler()
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.images))

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        noisy, timesteps, noise = noised_batch(self.images[rows], self.scheduler, self.rng)
        return {"latents": noisy, "timesteps": timesteps, "class_labels": self.labels[rows]}, noise

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.images))
