"""locally_connected2d (being written)."""

__all__: list[str] = []
