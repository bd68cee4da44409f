"""The perceptron: Rosenblatt's rule converges on separable data, not on XOR."""

import warnings

import numpy
import pytest

import xpnet
from xpnet.models import ConvergenceWarning, Perceptron

X = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=numpy.float32)


@pytest.mark.parametrize("name, d", [("AND", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1])])
def test_converges_on_and_or(name, d):
    p = Perceptron(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning
        result = p.fit(X, numpy.array(d))
    assert result.converged and p.converged
    assert result.errors[-1] == 0 and result.epochs == len(result.errors) < 100
    numpy.testing.assert_array_equal(p.predict(X), d)
    numpy.testing.assert_array_equal(p(xpnet.Tensor(X)).data.reshape(-1), d)


def test_reports_non_convergence_on_xor():
    p = Perceptron(2)
    with pytest.warns(ConvergenceWarning, match="did not converge in 50 epochs.*XOR"):
        result = p.fit(X, numpy.array([0, 1, 1, 0]), max_epochs=50)
    assert not result.converged and p.converged is False
    assert result.epochs == 50 and min(result.errors) > 0
    assert (p.predict(X) != [0, 1, 1, 0]).any()


def test_rule_by_hand_one_update():
    p = Perceptron(2)
    # w = 0, b = 0: x = (1, 1) gives u = 0, y = 0; d = 1: w <- w + 0.5 * (1 - 0) * x
    result = p.fit(numpy.array([[1.0, 1.0]]), numpy.array([1]), eta=0.5, max_epochs=1, warn=False)
    numpy.testing.assert_allclose(p.weight.data, [[0.5, 0.5]])
    numpy.testing.assert_allclose(p.bias.data, [0.5])
    assert result.errors == [1] and not result.converged


def test_converges_on_random_separable_data():
    rng = numpy.random.default_rng(0)
    X2 = rng.uniform(-1, 1, (200, 5)).astype(numpy.float32)
    w_true = rng.standard_normal(5)
    u = X2 @ w_true + 0.1
    keep = numpy.abs(u) > 0.2  # a margin, so convergence is quick
    d = (u[keep] > 0).astype(int)
    p = Perceptron(5, rng=numpy.random.default_rng(1))
    result = p.fit(X2[keep], d, eta=0.1, max_epochs=500)
    assert result.converged
    numpy.testing.assert_array_equal(p.predict(X2[keep]), d)


def test_argument_errors():
    with pytest.raises(ValueError, match="n_inputs"):
        Perceptron(0)
    with pytest.raises(TypeError, match="rng"):
        Perceptron(2, rng=3)
    p = Perceptron(2)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\), got \(4, 3\)"):
        p.fit(numpy.zeros((4, 3)), numpy.zeros(4))
    with pytest.raises(ValueError, match=r"d must have shape \(4,\)"):
        p.fit(X, numpy.zeros(3))
    with pytest.raises(ValueError, match="0 or 1"):
        p.fit(X, numpy.array([0, 2, 1, 0]))
    with pytest.raises(ValueError, match="eta"):
        p.fit(X, numpy.array([0, 1, 1, 1]), eta=0)
    assert repr(p) == "Perceptron(n_inputs=2)"
