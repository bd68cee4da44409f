"""Activations: the non-linearities f in y = f(h) (step, logistic, tanh, ReLU, softmax)."""

from xpnet.functions.activation.log_softmax import log_softmax
from xpnet.functions.activation.relu import relu
from xpnet.functions.activation.sigmoid import sigmoid
from xpnet.functions.activation.softmax import softmax
from xpnet.functions.activation.step import step
from xpnet.functions.activation.tanh import tanh

__all__ = ["log_softmax", "relu", "sigmoid", "softmax", "step", "tanh"]
