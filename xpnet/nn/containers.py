"""containers layers."""

__all__: list[str] = []
