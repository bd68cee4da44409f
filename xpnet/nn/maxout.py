"""maxout layers."""

__all__: list[str] = []
