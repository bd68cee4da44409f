"""The model zoo: from Rosenblatt's perceptron to AlexNet, and the zoo by name.

Example:
    >>> from xpnet.models import build_model, lenet5, mlp
    >>> net = mlp((784, 256, 10), activation="relu")
    >>> lenet5(seed=0).num_parameters()
    61706
    >>> build_model("cifar_convnet", (3, 32, 32), 10).num_parameters()
    89578
"""

from xpnet.models.alexnet import alexnet, alexnet_small
from xpnet.models.cifar import cifar_convnet
from xpnet.models.lenet import lenet5
from xpnet.models.mlp import mlp
from xpnet.models.multiclass_perceptron import MulticlassPerceptron
from xpnet.models.perceptron import ConvergenceWarning, Perceptron, PerceptronResult
from xpnet.models.regularized import dropconnect_mnist, locally_connected_net, maxout_mnist
from xpnet.models.summary import summary
from xpnet.models.zoo import ZOO, build_model

__all__ = [
    "ZOO",
    "ConvergenceWarning",
    "MulticlassPerceptron",
    "Perceptron",
    "PerceptronResult",
    "alexnet",
    "alexnet_small",
    "build_model",
    "cifar_convnet",
    "dropconnect_mnist",
    "lenet5",
    "locally_connected_net",
    "maxout_mnist",
    "mlp",
    "summary",
]
