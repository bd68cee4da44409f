"""PyTorch twins of xpnet networks for the state-dict tests, built here from torch.nn.

Each xpnet layer maps to the torch.nn layer of the same name and arguments; the three
layers PyTorch does not have (dense maxout, DropConnect's mean inference, unshared
kernels) are small torch Modules with the same tensor names and layouts. No weights are
copied: the state dict file carries them.
"""

import torch
from torch import nn as tnn
from torch.nn import functional as TF

from xpnet import nn
from xpnet.models.multiclass_perceptron import MulticlassPerceptron


class MaxoutLinear(tnn.Linear):
    def __init__(self, layer):
        super().__init__(layer.in_features, layer.out_features * layer.pool_size)
        self.pool = layer.pool_size

    def forward(self, x):
        z = super().forward(x)
        return z.view(len(x), -1, self.pool).amax(dim=2)


class DropConnectMean(tnn.Linear):
    def __init__(self, layer):
        super().__init__(layer.in_features, layer.out_features)
        self.keep, self.act = 1.0 - layer.p, layer.activation

    def forward(self, x):
        y = TF.linear(x, self.keep * self.weight, self.bias)
        return getattr(torch, self.act)(y) if self.act else y


class LocallyConnected(tnn.Module):
    def __init__(self, layer):
        super().__init__()
        self.weight = tnn.Parameter(torch.zeros(tuple(layer.weight.shape)))
        self.bias = tnn.Parameter(torch.zeros(tuple(layer.bias.shape)))
        self.k, self.s, self.p = layer.kernel_size, layer.stride, layer.padding

    def forward(self, x):
        oh, ow, o = self.weight.shape[:3]
        cols = TF.unfold(x, self.k, padding=self.p, stride=self.s)  # (N, C kh kw, L)
        w = self.weight.reshape(oh * ow, o, -1)  # (L, O, K)
        y = torch.einsum("nkl,lok->nol", cols, w)
        return y.reshape(len(x), o, oh, ow) + self.bias


class FlatLinear(tnn.Module):
    def __init__(self, layer):
        super().__init__()
        self.weight = tnn.Parameter(torch.zeros(tuple(layer.weight.shape)))
        self.bias = tnn.Parameter(torch.zeros(tuple(layer.bias.shape)))

    def forward(self, x):
        return TF.linear(x.flatten(1), self.weight, self.bias)


def twin_layer(m):
    simple = {nn.ReLU: tnn.ReLU, nn.Tanh: tnn.Tanh, nn.Sigmoid: tnn.Sigmoid,
              nn.Flatten: tnn.Flatten}
    if type(m) in simple:
        return simple[type(m)]()
    if isinstance(m, nn.Conv2d):
        return tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                          m.dilation, m.groups, m.bias is not None)
    if isinstance(m, nn.Linear):
        return tnn.Linear(m.weight.shape[1], m.weight.shape[0], m.bias is not None)
    if isinstance(m, nn.MaxPool2d):
        return tnn.MaxPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
    if isinstance(m, nn.AvgPool2d):
        return tnn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                             m.count_include_pad)
    if isinstance(m, nn.LocalResponseNorm):
        return tnn.LocalResponseNorm(m.size, m.alpha, m.beta, m.k)
    if isinstance(m, nn.Dropout):
        return tnn.Dropout(m.p)
    others = {nn.MaxoutLinear: MaxoutLinear, nn.DropConnectLinear: DropConnectMean,
              nn.LocallyConnected2d: LocallyConnected, MulticlassPerceptron: FlatLinear}
    return others[type(m)](m)


def twin(model):
    """The torch network built like the xpnet ``model`` (a Sequential or one layer)."""
    if isinstance(model, nn.Sequential):
        return tnn.Sequential(*[twin_layer(m) for m in model])
    return twin_layer(model)
