"""Image grids and PNG files, NumPy only (no imaging library needed)."""

import os
import struct
import zlib

import numpy as np


def image_grid(images, rows: int, padding: int = 1, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Tile `(n, h, w, c)` images into one uint8 grid image with `rows` rows.

    Args:
        images: array `(n, h, w, c)`, `c` 1 or 3, `n` a multiple of `rows`.
            Images are filled row by row.
        rows: int. Rows of the grid.
        padding: int. Pixels between images (black). Defaults to `1`.
        value_range: `(low, high)` mapped to 0 and 255 (values clipped).
            Defaults to `(-1, 1)`.

    Returns:
        uint8 array `(rows * (h + padding) + padding, cols * (w + padding) + padding, c)`.
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"`images` must be (n, height, width, 1 or 3). Received: shape={images.shape}.")
    n, h, w, c = images.shape
    if rows < 1 or n % rows:
        raise ValueError(f"`rows` must divide the number of images. Received: rows={rows}, {n} images.")
    cols = n // rows
    low, high = value_range
    pixels = np.clip((images - low) / (high - low), 0.0, 1.0)
    pixels = np.round(pixels * 255).astype("uint8")
    grid = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding, c), "uint8")
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top:top + h, left:left + w] = pixels[i]
    return grid


def write_png(path, image, scale: int = 1) -> str:
    """Write a uint8 `(h, w, 1 or 3)` array as a PNG (grayscale or RGB); `scale` repeats pixels.

    Returns:
        The path written.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(
            f"`image` must be a uint8 array (height, width, 1 or 3). Received: dtype={image.dtype}, shape={image.shape}."
        )
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    h, w, c = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:
        f.write(png)
    return path
