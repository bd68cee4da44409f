"""Losses: the cost E minimised by training (squared error, softmax and sigmoid
cross-entropy, the perceptron criterion)."""

from xpnet.functions.loss.perceptron_loss import perceptron_loss
from xpnet.functions.loss.sigmoid_cross_entropy import sigmoid_cross_entropy
from xpnet.functions.loss.softmax_cross_entropy import softmax_cross_entropy
from xpnet.functions.loss.squared_error import squared_error

__all__ = ["perceptron_loss", "sigmoid_cross_entropy", "softmax_cross_entropy", "squared_error"]
