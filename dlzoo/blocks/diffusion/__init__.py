"""Blocks of diffusion models over images: patchify/unpatchify, label embedding, the DiT output layer."""

__all__ = []
