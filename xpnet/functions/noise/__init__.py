"""noise ops."""

__all__: list[str] = []
