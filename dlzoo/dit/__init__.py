"""Diffusion Transformers (DiT, arXiv:2212.09748): training batches, sampling, grids and counts.

The family `dit` (zoo names `dit-s-2` ... `dit-xl-2`, `dit-tiny`) lives in
`dlzoo.families.dit`, its blocks in `dlzoo.blocks.diffusion`; this package
holds what uses a built DiT:

* `dit_scheduler()`: the shared `dlzoo.diffusion.DDIMScheduler` with DiT's
  settings (linear betas, T = 1000, epsilon prediction);
* `NoisedImages`: DDPM training batches for `model.fit` (loss: MSE on the noise);
* `sample`, `sample_grid`: DDIM sampling with classifier-free guidance, and a
  PNG grid with one row per class (also `dlzoo sample MODEL.keras ...`);
* `reference_parameter_count`: the figure the reference code reports (the
  weights plus its fixed position table).

See `guides/diffusion.md`.
"""

from dlzoo.dit.counts import position_table_size, reference_parameter_count
from dlzoo.dit.images import image_grid, write_png
from dlzoo.dit.sampling import learned_log_variance, model_layout, sample, sample_grid
from dlzoo.dit.training import NoisedImages, dit_scheduler, noised_batch

__all__ = [
    "NoisedImages",
    "dit_scheduler",
    "image_grid",
    "learned_log_variance",
    "model_layout",
    "noised_batch",
    "position_table_size",
    "reference_parameter_count",
    "sample",
    "sample_grid",
    "write_png",
]
