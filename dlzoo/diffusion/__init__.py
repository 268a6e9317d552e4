"""Diffusion utilities: noise schedules and samplers (NumPy; no backend imports).

`DDIMScheduler` reproduces the scheduler the Two-Tower Large Concept Model is
trained and sampled with (cosine betas, zero terminal SNR, trailing timesteps,
x0 prediction, epsilon-space classifier-free guidance with rescale).
"""

from dlzoo.diffusion.ddim_scheduler import (
    DDIMScheduler,
    betas_for_alpha_bar,
    guided_epsilon,
    rescale_zero_terminal_snr,
)

__all__ = ["DDIMScheduler", "betas_for_alpha_bar", "guided_epsilon", "rescale_zero_terminal_snr"]
