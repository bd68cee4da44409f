"""array ops."""

__all__: list[str] = []
