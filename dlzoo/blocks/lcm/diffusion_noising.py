"""Forward diffusion inside the training graph: sample a timestep per position and noise the concepts."""

import keras
from keras import ops

from dlzoo.diffusion.ddim_scheduler import BETA_SCHEDULES, DDIMScheduler
from dlzoo.registry import register_block
from dlzoo.validation import check_bool, check_choice, check_float, check_int, check_positive_int


@register_block(
    "diffusion_noising",
    paper="arXiv:2006.11239",
    example={"init_kwargs": {"num_train_timesteps": 100, "seed": 1}, "inputs": (2, 5, 12)},
    # Its output is random by design and each backend has its own random generator:
    # the cross-backend parity check compares shapes only (the statistics are tested per backend).
    parity_tolerance=float("inf"),
)
class DiffusionNoising(keras.layers.Layer):
    """Sample `t ~ U{0..T-1}` per position and return `x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps`.

    The noising half of the Two-Tower LCM training criterion
    (`two_tower_diffusion_next_sent`, lcm.md 4.4), moved into a layer so the
    whole model trains with a plain `model.fit`: one timestep per position,
    i.i.d. uniform over `{0, ..., T-1}` (the recipe's `StepsSampler`), and
    standard Gaussian noise, both drawn from this layer's
    `keras.random.SeedGenerator`. `ab_t` is the cumulative alpha product of
    `dlzoo.diffusion.DDIMScheduler` with the same schedule arguments (a
    constant table, not a weight). The layer noises in every mode (training,
    evaluation, prediction), so the validation loss is the same objective as
    the training loss. Outside training (`training` not `True`) the draws use
    the fixed integer seed `seed` (0 when `None`): the same inputs give the same
    outputs, so validation losses are comparable from epoch to epoch and a
    saved model reproduces its predictions.

    Args:
        num_train_timesteps: int. `T`. Defaults to `1000`.
        beta_schedule: str. `"squaredcos_cap_v2"`, `"linear"` or
            `"scaled_linear"`. Defaults to `"squaredcos_cap_v2"`.
        beta_start: float. First beta of the linear schedules. Defaults to `1e-4`.
        beta_end: float. Last beta of the linear schedules. Defaults to `0.02`.
        rescale_betas_zero_snr: bool. Zero terminal SNR. Defaults to `True`.
        seed: int or None. Seed of the generator. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: Tensor `(batch, seq_len, dim)`: clean (normalized) concepts `x0`.
        training: bool. Fresh draws from the seed generator (`True`) or
            the fixed seed (otherwise).

    Returns:
        Tuple `(noisy, timesteps)`: `noisy` like `inputs` (compute dtype) and
        `timesteps` int32 `(batch, seq_len)`.

    Example:

    >>> layer = dlzoo.lcm.DiffusionNoising(num_train_timesteps=100, seed=0)
    >>> noisy, t = layer(np.zeros((2, 5, 12)))
    >>> tuple(noisy.shape), tuple(t.shape)
    ((2, 5, 12), (2, 5))

    Reference:
        - [Ho et al., 2020. Denoising Diffusion Probabilistic Models](https://arxiv.org/abs/2006.11239)
        - [LCM team, 2024. Large Concept Models](https://arxiv.org/abs/2412.08821), section 2.3.2
    """

    def __init__(
        self,
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        beta_start=1e-4,
        beta_end=0.02,
        rescale_betas_zero_snr=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_train_timesteps = check_int("num_train_timesteps", num_train_timesteps, min_value=2)
        self.beta_schedule = check_choice("beta_schedule", beta_schedule, BETA_SCHEDULES)
        self.beta_start = check_float("beta_start", beta_start, min_value=0.0, max_value=1.0)
        self.beta_end = check_float("beta_end", beta_end, min_value=0.0, max_value=1.0)
        self.rescale_betas_zero_snr = check_bool("rescale_betas_zero_snr", rescale_betas_zero_snr)
        self.seed = check_int("seed", seed, allow_none=True)
        self.scheduler = DDIMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=self.beta_schedule,
            beta_start=self.beta_start,
            beta_end=self.beta_end,
            rescale_betas_zero_snr=self.rescale_betas_zero_snr,
        )
        self._sqrt_ab = [float(v) for v in self.scheduler.alphas_cumprod ** 0.5]
        self._sqrt_one_minus_ab = [float(v) for v in (1.0 - self.scheduler.alphas_cumprod) ** 0.5]
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, training=None):
        # Shapes: inputs (b, n, s); timesteps (b, n); coefficients (b, n, 1).
        shape = ops.shape(inputs)
        if training:
            seeds = (self.seed_generator, self.seed_generator)
        else:
            base = 0 if self.seed is None else self.seed
            seeds = (base, base + 1)
        timesteps = keras.random.randint(shape[:-1], 0, self.num_train_timesteps, dtype="int32", seed=seeds[0])
        noise = keras.random.normal(shape, dtype="float32", seed=seeds[1])
        sqrt_ab = ops.take(ops.convert_to_tensor(self._sqrt_ab, dtype="float32"), timesteps)
        sqrt_omab = ops.take(ops.convert_to_tensor(self._sqrt_one_minus_ab, dtype="float32"), timesteps)
        x0 = ops.cast(inputs, "float32")
        noisy = sqrt_ab[..., None] * x0 + sqrt_omab[..., None] * noise
        return ops.cast(noisy, self.compute_dtype), timesteps

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), tuple(input_shape[:-1])

    def compute_output_spec(self, inputs, training=None):
        return (
            keras.KerasTensor(inputs.shape, dtype=self.compute_dtype),
            keras.KerasTensor(inputs.shape[:-1], dtype="int32"),
        )

    def count_params_for(self, input_shape):
        return 0

    def flops_for(self, input_shape, **other_shapes):
        """Forward FLOPs: 0 (elementwise noising, no matrix product; see `dlzoo.flops`)."""
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_train_timesteps": self.num_train_timesteps,
                "beta_schedule": self.beta_schedule,
                "beta_start": self.beta_start,
                "beta_end": self.beta_end,
                "rescale_betas_zero_snr": self.rescale_betas_zero_snr,
                "seed": self.seed,
            }
        )
        return config
