"""The boundary of the package: image files become uint8 RGB arrays (`images`), and
outputs are written atomically (`files`)."""

from tf_binmap.io.files import (
    ImageWriteError,
    atomic_output,
    write_bytes_atomic,
    write_figure_atomic,
    write_png_atomic,
    write_text_atomic,
)
from tf_binmap.io.images import (
    IMAGE_SUFFIXES,
    ImageReadError,
    as_image_batch,
    decode_image_rgb,
    list_images,
    read_image_rgb,
    scaled_size,
)

__all__ = [
    "IMAGE_SUFFIXES", "ImageReadError", "ImageWriteError", "as_image_batch", "atomic_output",
    "decode_image_rgb", "list_images", "read_image_rgb", "scaled_size", "write_bytes_atomic",
    "write_figure_atomic", "write_png_atomic", "write_text_atomic",
]
