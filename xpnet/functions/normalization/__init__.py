"""normalization ops."""

__all__: list[str] = []
