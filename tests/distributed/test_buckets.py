"""Gradient buckets on one process: the plan, the use counts, the hooks that send a bucket
while backward still runs, and the gradients they leave (those of a plain backward)."""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet import functions as F
from xpnet.distributed import DataParallel, GradientBuckets, LocalCommunicator, count_uses


class _Recorder(LocalCommunicator):
    """A one-process communicator that notes each allreduce and what was ready then."""

    def __init__(self, params):
        self.params, self.calls = params, []

    def iallreduce(self, array):
        self.calls.append((array.size, sum(p.grad is None for p in self.params)))
        return super().iallreduce(array)


def _net(seed=0, dtype=numpy.float64):
    r = numpy.random.default_rng(seed)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, rng=r), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 16, 20, rng=r), nn.ReLU(), nn.Linear(20, 4, rng=r))
    return net.astype(dtype)


def test_the_tensor_hook_fires_once_per_accumulation_and_can_be_removed():
    w = Tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.copy()))
    (w * w).sum().backward()  # w enters mul twice: two contributions
    assert [s.tolist() for s in seen] == [[1.0, 2.0], [2.0, 4.0]]
    handle.remove()
    handle.remove()
    w.grad = None
    (w * 3.0).sum().backward()
    assert len(seen) == 2
    with pytest.raises(TypeError, match="callable"):
        w.register_post_accumulate_grad_hook(3)


def test_buckets_follow_reverse_parameter_order_in_one_flat_buffer():
    net = _net()
    params = list(net.parameters())
    sync = GradientBuckets(params, LocalCommunicator(), bucket_mb=1000 / 2**20)
    order = [p for b in sync.buckets for p in b.params]
    assert [id(p) for p in order] == [id(p) for p in reversed(params)]
    assert sync.buckets[0].start == 0
    for a, b in zip(sync.buckets, sync.buckets[1:]):
        assert a.stop == b.start  # contiguous
        assert a.nbytes >= 1000  # each reaches the cap before the next begins
    assert sync.buckets[-1].stop == sum(p.numel() for p in params)


def test_count_uses_counts_each_op_that_adds_to_a_gradient():
    w, unused = Tensor(numpy.ones(3), requires_grad=True), Tensor(numpy.ones(2),
                                                                  requires_grad=True)
    x = Tensor(numpy.arange(3.0))
    y = w * x + w * w  # three uses of w: mul(w, x) and mul(w, w) twice
    counts = count_uses(y.sum(), {id(w): w, id(unused): unused})
    assert counts == {id(w): 3, id(unused): 0}


@pytest.mark.parametrize("bucket_mb", [1e-4, 100.0])
def test_gradients_equal_a_plain_backward_and_buckets_go_out_during_backward(bucket_mb):
    rng = numpy.random.default_rng(1)
    x, y = rng.standard_normal((6, 1, 6, 6)), rng.integers(0, 4, 6)
    plain = _net()
    F.softmax_cross_entropy(plain(Tensor(x)), y).backward()
    net = _net()
    params = list(net.parameters())
    comm = _Recorder(params)
    model = DataParallel(net, comm, bucket_mb=bucket_mb)
    model.named_modules()  # transparent: the wrapped model's names
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in plain.named_parameters()]
    F.softmax_cross_entropy(model(Tensor(x)), y).backward()
    assert model.sync.finished
    for p, q in zip(params, plain.parameters()):
        numpy.testing.assert_allclose(p.grad, q.grad, rtol=1e-13, atol=1e-15)
        assert numpy.shares_memory(p.grad, model.sync.flat(numpy.float64))
    sends = comm.calls[1:]  # the first call is the example count
    assert len(sends) == len(model.sync.buckets)
    if len(sends) > 1:  # the first bucket left while the first layer's gradients were unknown
        assert sends[0][1] > 0


def test_a_parameter_the_output_does_not_reach_gets_a_zero_gradient():
    net = _net()
    extra = nn.Linear(2, 2, rng=numpy.random.default_rng(0)).double()
    holder = nn.Sequential(net)
    holder.extra = extra
    model = DataParallel(holder, LocalCommunicator())
    out = model(Tensor(numpy.ones((2, 1, 6, 6))))
    out.sum().backward()
    assert model.sync.finished
    assert not extra.weight.grad.any()


def test_gradients_must_be_zeroed_before_each_step():
    model = DataParallel(_net(), LocalCommunicator())
    x = Tensor(numpy.ones((2, 1, 6, 6)))
    model(x).sum().backward()
    with pytest.raises(RuntimeError, match="zero_grad"):
        model(x)
    model.zero_grad()
    model(x)  # prepared again
    model.eval()
    model.zero_grad()
    assert not model.module.training


def test_close_removes_the_hooks():
    net = _net()
    sync = GradientBuckets(list(net.parameters()), LocalCommunicator())
    sync.close()
    net(Tensor(numpy.ones((2, 1, 6, 6)))).sum().backward()  # no hook: no error
    assert sync.finished
