"""connection ops."""

__all__: list[str] = []
