"""What a data file may announce before xpnet reads it: the limits of the readers.

A header announces sizes (an IDX file's dimensions, a zip member's uncompressed size, an
``.npy`` header's shape, an image's width and height, the largest label of a set), and
a reader that trusted them would allocate whatever a crafted or damaged file asks for: a
small ``.gz`` that inflates to gigabytes, a PNG of 10^10 pixels, labels that announce
10^11 classes. Every reader compares the announced size with its file and with the limit
below *before* reading, and refuses with a :class:`~xpnet.data.DataFormatError` that names
the file, the announced size and the limit. The readers look these names up at each
call, so a program may change them (``limits.MAX_INFLATED_BYTES = 8 * 2**30``).
"""

#: Bytes a compressed file (an IDX ``.gz``, a compressed ``.npz`` member) may inflate to in
#: memory. Larger sets are read from uncompressed files, which are memory-mapped.
MAX_INFLATED_BYTES = 4 * 2**30

#: Classes a set may have when their count comes from its largest label (an ``.npz``
#: without a ``classes`` member). ImageNet-21k has 21,841.
MAX_CLASSES = 100_000

#: Pixels of one image file decoded by Pillow (Pillow's own default limit, 2^28 / 3):
#: a larger image is refused before it is decoded.
MAX_IMAGE_PIXELS = 89_478_485


def fmt_bytes(n: int) -> str:
    """``n`` bytes for a message: ``"5,368,709,120 bytes (5.0 GiB)"``."""
    return f"{n:,} bytes ({n / 2**30:.1f} GiB)" if n >= 2**30 else f"{n:,} bytes"
