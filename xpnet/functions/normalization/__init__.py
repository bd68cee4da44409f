"""Normalisation ops: local response normalisation (AlexNet)."""

from xpnet.functions.normalization.local_response_norm import local_response_norm

__all__ = ["local_response_norm"]
