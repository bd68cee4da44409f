"""The model zoo: from Rosenblatt's perceptron to the multi-layer perceptron.

Example:
    >>> from xpnet.models import Perceptron, mlp
    >>> net = mlp((784, 256, 10), activation="relu")
"""

from xpnet.models.mlp import mlp
from xpnet.models.perceptron import ConvergenceWarning, Perceptron, PerceptronResult

__all__ = ["ConvergenceWarning", "Perceptron", "PerceptronResult", "mlp"]
