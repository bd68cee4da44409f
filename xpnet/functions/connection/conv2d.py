"""conv2d (being written)."""

__all__: list[str] = []
