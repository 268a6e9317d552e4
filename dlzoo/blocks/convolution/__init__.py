"""Convolution blocks: conv-norm-activation units, residual and inverted-residual blocks (channels-last)."""

__all__ = []
