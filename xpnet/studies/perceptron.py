"""Study ``perceptron``: Rosenblatt's rule converges on AND and OR, never on XOR; a
two-layer network trained by back-propagation solves XOR."""

from __future__ import annotations

import warnings
from typing import Any

import numpy

import xpnet
from xpnet import functions as F
from xpnet import optim
from xpnet.models import ConvergenceWarning, Perceptron, mlp
from xpnet.studies.base import Context, Metric, Plot, Study

X = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=numpy.float32)
TARGETS = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}
RULE_ARMS = tuple(f"perceptron, {name}" for name in TARGETS)
HIDDEN = (2, 4)
MLP_ARMS = tuple(f"MLP 2-{h}-1, XOR" for h in HIDDEN)


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return {"rule_epochs": 100, "eta": 1.0, "mlp_epochs": ctx.pick(5000, 1500), "lr": 2.0,
            "momentum": 0.9}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    return (f"The four points of the unit square. Perceptron: one step unit, weights and "
            f"bias drawn from U(-0.5, 0.5) with the seed, Rosenblatt's rule w <- w + eta "
            f"(d - y) x with eta {b['eta']}, the points in order, at most "
            f"{b['rule_epochs']} epochs; converged = an epoch without error. MLP: logistic "
            f"hidden and output units, PyTorch's default initialisation, full-batch SGD on "
            f"E = 1/2 sum (y - d)^2 with lr {b['lr']} and momentum {b['momentum']}, at most "
            f"{b['mlp_epochs']} epochs (one step each); solved = every output on the right "
            f"side of 0.5.")


def _rule(d: numpy.ndarray, seed: int, b: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """xpnet's Perceptron.fit; its measurements and its weights after the first epoch."""
    p = Perceptron(2, rng=numpy.random.default_rng(seed))
    first = Perceptron(2, rng=numpy.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # not converging is the point
        first.fit(X, d, eta=b["eta"], max_epochs=1)
        result = p.fit(X, d, eta=b["eta"], max_epochs=b["rule_epochs"])
    return _measured(result.errors, result.converged), [
        first.weight.data.copy(), first.bias.data.copy()]


def _measured(errors: list[int], solved: bool) -> dict[str, Any]:
    """An arm's measurements from its errors per epoch."""
    return {"solved": float(solved), "epochs": len(errors) if solved else None,
            "errors_last": float(errors[-1]),
            "curves": {"errors": {"x": list(range(1, len(errors) + 1)), "y": errors}}}


def _rule_torch(d: numpy.ndarray, seed: int, b: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The same rule on PyTorch tensors, from the same initial weights."""
    import torch  # noqa: PLC0415

    start = Perceptron(2, rng=numpy.random.default_rng(seed))
    w = torch.from_numpy(start.weight.data[0].copy())
    bias = torch.from_numpy(start.bias.data.copy())
    xs, errors, first = torch.from_numpy(X), [], None
    for _ in range(b["rule_epochs"]):
        wrong = 0
        for x_n, d_n in zip(xs, d.astype(numpy.float32), strict=True):
            y_n = 1.0 if float(x_n @ w + bias[0]) > 0 else 0.0
            if y_n != d_n:
                wrong += 1
                w += b["eta"] * (d_n - y_n) * x_n
                bias += b["eta"] * (d_n - y_n)
        errors.append(wrong)
        first = first or [w.numpy().copy()[None], bias.numpy().copy()]
        if wrong == 0:
            break
    return _measured(errors, errors[-1] == 0), first


def _xor_net(hidden: int, seed: int) -> Any:
    """The MLP 2-hidden-1 of logistic units, its initial weights drawn from ``seed``."""
    return mlp((2, hidden, 1), activation="sigmoid", output_activation="sigmoid",
               rng=numpy.random.default_rng(seed))


def _mlp(hidden: int, seed: int, b: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Back-propagation on XOR in xpnet; (measured, weights after epoch 1)."""
    net = _xor_net(hidden, seed)
    opt = optim.SGD(net.parameters(), lr=b["lr"], momentum=b["momentum"])
    x, d = xpnet.Tensor(X), numpy.array(TARGETS["XOR"], numpy.float32).reshape(4, 1)
    errors, first = [], None
    for _ in range(b["mlp_epochs"]):
        y = net(x)
        loss = F.squared_error(y, xpnet.Tensor(d))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or [p.data.copy() for p in net.parameters()]
        errors.append(int(((y.data > 0.5) != (d > 0.5)).sum()))  # before this step
        if errors[-1] == 0:
            break
    return _measured(errors, errors[-1] == 0), first


def _mlp_torch(hidden: int, seed: int, b: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The same network in PyTorch from the same weights, the same steps."""
    import torch  # noqa: PLC0415

    from xpnet.studies import twin  # noqa: PLC0415

    net, params = twin.to_torch(_xor_net(hidden, seed))
    opt = torch.optim.SGD(params, lr=b["lr"], momentum=b["momentum"])
    x = torch.from_numpy(X)
    d = torch.tensor(TARGETS["XOR"], dtype=torch.float32).reshape(4, 1)
    errors, first = [], None
    for _ in range(b["mlp_epochs"]):
        y = net(x)
        loss = 0.5 * ((y - d) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or [p.detach().numpy().copy() for p in params]
        errors.append(int(((y > 0.5) != (d > 0.5)).sum()))
        if errors[-1] == 0:
            break
    return _measured(errors, errors[-1] == 0), first


def _mlp_step64(hidden: int, seed: int, b: dict[str, Any]) -> float:
    """The largest weight difference after one step in float64, xpnet against PyTorch."""
    import torch  # noqa: PLC0415

    from xpnet.studies import twin  # noqa: PLC0415
    from xpnet.studies.arms import max_weight_difference  # noqa: PLC0415

    net = _xor_net(hidden, seed).double()
    tnet, tparams = twin.to_torch(net, torch.float64)
    x, d = X.astype(numpy.float64), numpy.array(TARGETS["XOR"], numpy.float64).reshape(4, 1)
    opt = optim.SGD(net.parameters(), lr=b["lr"], momentum=b["momentum"])
    F.squared_error(net(xpnet.Tensor(x)), xpnet.Tensor(d)).backward()
    opt.step()
    topt = torch.optim.SGD(tparams, lr=b["lr"], momentum=b["momentum"])
    (0.5 * ((tnet(torch.from_numpy(x)) - torch.from_numpy(d)) ** 2).sum()).backward()
    topt.step()
    return max_weight_difference([p.data for p in net.parameters()],
                                 [t.detach().numpy() for t in tparams])


def _pair(ours: tuple, theirs: tuple | None) -> dict[str, Any]:
    from xpnet.studies.arms import max_weight_difference  # noqa: PLC0415

    out = {"xpnet": ours[0]}
    if theirs is not None:
        out["torch"] = theirs[0]
        out["weight_diff"] = max_weight_difference(ours[1], theirs[1])
    return out


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b, results = ctx.budget, {}
    torch_too = ctx.compare == "torch"
    for arm, d in zip(RULE_ARMS, TARGETS.values(), strict=True):
        ctx.say(f"  {arm}, seed {seed}")
        d = numpy.array(d)
        results[arm] = _pair(_rule(d, seed, b), _rule_torch(d, seed, b) if torch_too else None)
    for arm, hidden in zip(MLP_ARMS, HIDDEN, strict=True):
        ctx.say(f"  {arm}, seed {seed}")
        results[arm] = _pair(_mlp(hidden, seed, b),
                             _mlp_torch(hidden, seed, b) if torch_too else None)
        if torch_too:
            results[arm]["step_diff"] = _mlp_step64(hidden, seed, b)
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for arm in (*RULE_ARMS, *MLP_ARMS):
        solved = summary.values(arm, "solved")
        s = summary.stat(arm, "epochs")
        when = "" if s.mean is None else f", in {s.mean:.0f} epochs on average"
        verb = "solved" if arm.startswith("MLP") else "converged"
        out.append(f"{arm}: {verb} on {int(sum(solved))} of {len(solved)} seeds{when}.")
    return out


STUDY = Study(
    name="perceptron",
    title="Rosenblatt's rule on AND, OR and XOR; back-propagation on XOR",
    claim="The perceptron rule reaches zero errors on any linearly separable problem "
          "(Rosenblatt 1958; Novikoff 1962), so on AND and OR, and never on XOR, which no "
          "line separates (Minsky and Papert 1969); a network with a hidden layer, trained "
          "by back-propagation, learns XOR (Rumelhart et al. 1986).",
    arms=(*RULE_ARMS, *MLP_ARMS),
    metrics=(Metric("solved", "solved (% of seeds)", scale=100, digits=0),
             Metric("epochs", "epochs to zero errors", digits=0),
             Metric("errors_last", "errors in the last epoch (of 4)", digits=1)),
    plots=(Plot("curves", "errors", "misclassified points per epoch", "epoch",
                "errors (of 4)", logx=True),),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
