"""Noise ops: dropout, channel dropout and DropConnect, each drawing from an explicit rng."""

from xpnet.functions.noise.dropconnect import dropconnect, dropconnect_gaussian
from xpnet.functions.noise.dropout import dropout
from xpnet.functions.noise.dropout2d import dropout2d

__all__ = ["dropconnect", "dropconnect_gaussian", "dropout", "dropout2d"]
