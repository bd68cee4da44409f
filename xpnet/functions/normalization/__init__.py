"""Normalisation ops: local response normalisation (AlexNet), global contrast
normalisation (pre-processing)."""

from xpnet.functions.normalization.global_contrast_norm import global_contrast_normalize
from xpnet.functions.normalization.local_response_norm import local_response_norm

__all__ = ["global_contrast_normalize", "local_response_norm"]
