"""AlexNet's towers on two ranks equal the grouped one-process AlexNet: scores, gradients,
several SGD steps with dropout, checkpoints; and the exchanges' bytes are as announced."""

import numpy
import pytest

from xpnet import Tensor, nn, optim
from xpnet import functions as F
from xpnet.data import ArrayDataset, DataLoader
from xpnet.distributed import LocalCommunicator
from xpnet.distributed.exchange import ExchangeMeter, all_gather, halo_exchange
from xpnet.distributed.towers import TowerModel, split_sizes
from xpnet.distributed.trainer import TowerTrainer
from xpnet.models.alexnet import alexnet, alexnet_small
from xpnet.train import load_state


def _grouped(dtype=numpy.float64, seed=0):
    return alexnet_small(seed=seed, init_scheme="default").astype(dtype)


def test_split_sizes():
    assert split_sizes(10, 3) == [4, 3, 3]
    assert split_sizes(10, 2) == [5, 5]


def test_only_alexnet_with_as_many_groups_as_ranks_is_split():
    with pytest.raises(ValueError, match="not the zoo's AlexNet"):
        TowerModel(nn.Sequential(nn.Linear(3, 2)), LocalCommunicator(), (3,))
    with pytest.raises(ValueError, match="mpiexec -n 2"):
        TowerModel(_grouped(), LocalCommunicator(), (3, 64, 64))
    one_tower = alexnet(10, input_size=64, width=0.25, fc=64, conv1_padding=2, groups=1,
                        seed=0)
    assert TowerModel(one_tower, LocalCommunicator(), (3, 64, 64)).exchange_bytes(1)


@pytest.mark.parametrize("size", [5, 4])
def test_halo_exchange_computes_lrn_across_the_cut(two_ranks, size):
    comm, rng = two_ranks, numpy.random.default_rng(3)
    x, gy = rng.standard_normal((2, 8, 3, 3)), rng.standard_normal((2, 8, 3, 3))
    full = Tensor(x, requires_grad=True)
    F.local_response_norm(full, size, 5e-1, 0.75, 2.0).backward(gy)
    mine = slice(4 * comm.rank, 4 * comm.rank + 4)
    part = Tensor(numpy.ascontiguousarray(x[:, mine]), requires_grad=True)
    meter = ExchangeMeter()
    halo = halo_exchange(part, comm, size // 2, (size - 1) // 2, meter)
    y = F.local_response_norm(halo, size, 5e-1, 0.75, 2.0)
    start = size // 2 if comm.rank else 0
    y = y[:, start:start + 4]
    y.backward(numpy.ascontiguousarray(gy[:, mine]))
    expected = F.local_response_norm(Tensor(x), size, 5e-1, 0.75, 2.0).data[:, mine]
    numpy.testing.assert_allclose(y.data, expected, rtol=1e-13)
    numpy.testing.assert_allclose(part.grad, full.grad[:, mine], rtol=1e-12, atol=1e-14)
    before, after = size // 2, (size - 1) // 2
    forward, backward = (before, after) if comm.rank == 0 else (after, before)
    assert meter.sent[("halo", "forward")] == forward * 2 * 9 * 8  # channels x N x H W x 8 B
    assert meter.sent[("halo", "backward")] == backward * 2 * 9 * 8


def test_all_gather_backward_sums_or_slices(two_ranks):
    comm = two_ranks
    x = Tensor(numpy.full((2, 3), comm.rank + 1.0), requires_grad=True)
    y = all_gather(x, comm, [3, 3])
    assert y.data[:, :3].tolist() == [[1.0] * 3] * 2 and y.data[0, 3] == 2.0
    y.backward(numpy.full((2, 6), 10.0 * (comm.rank + 1)))
    assert (x.grad == 30.0).all()  # 10 from rank 0's use + 20 from rank 1's
    x.grad = None
    all_gather(x, comm, [3, 3], backward="slice").backward(numpy.full((2, 6), 7.0))
    assert (x.grad == 7.0).all()


def test_the_towers_train_as_the_grouped_alexnet(two_ranks):
    comm, rng = two_ranks, numpy.random.default_rng(5)
    grouped = _grouped()
    tower = TowerModel(grouped, comm, (3, 64, 64))
    og = optim.SGD(grouped.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    ot = optim.SGD(tower.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    for _ in range(3):  # training mode: dropout active, the same masks on both sides
        x, y = rng.standard_normal((4, 3, 64, 64)), rng.integers(0, 10, 4)
        og.zero_grad()
        ot.zero_grad()
        tower.meter.reset()
        scores_g = grouped(Tensor(x))
        F.softmax_cross_entropy(scores_g, y).backward()
        scores_t = tower(Tensor(x))
        F.softmax_cross_entropy(scores_t, y).backward()
        numpy.testing.assert_allclose(scores_t.data, scores_g.data, rtol=1e-11, atol=1e-13)
        for i, (pg, pt) in enumerate(zip(grouped.parameters(), tower.parameters())):
            numpy.testing.assert_allclose(pt.grad, tower.own_rows(i, pg.grad), rtol=1e-9,
                                          atol=1e-13)
        og.step()
        ot.step()
        assert tower.meter.total() == sum(f + b for _, f, b in tower.exchange_bytes(4))
    state = tower.state_dict()
    for name, value in grouped.state_dict().items():
        numpy.testing.assert_allclose(state[name], value, rtol=1e-11, atol=1e-13)
    summary = tower.summary(128)
    assert "pool2 -> conv3" in summary and "halo lrn1" in summary and "conv3" in summary


def test_tower_checkpoints_hold_the_grouped_model(two_ranks, shared_tmp):
    comm, rng = two_ranks, numpy.random.default_rng(0)
    data = ArrayDataset(rng.random((24, 3, 64, 64), numpy.float32), rng.integers(0, 10, 24))
    grouped = _grouped(numpy.float32)

    def trainer(run_dir, every=None):
        tower = TowerModel(_grouped(numpy.float32), comm, (3, 64, 64))
        opt = optim.SGD(tower.parameters(), lr=0.01, momentum=0.9)
        return TowerTrainer(tower, opt, DataLoader(data, 8, seed=1), comm=comm,
                            run_dir=run_dir, seed=2, checkpoint_every_steps=every)

    full = trainer(shared_tmp / "full")
    full.fit(2)
    cut = trainer(shared_tmp / "cut", every=2)
    cut.fit(1)
    again = trainer(shared_tmp / "cut", every=2)
    again.fit(2, resume=True)
    for p, q in zip(again.model.parameters(), full.model.parameters()):
        assert numpy.array_equal(p.data, q.data)
    state, _ = load_state(shared_tmp / "full" / "last")
    grouped.load_state_dict(state["model"])  # the one-process model takes the towers' checkpoint
    x = rng.random((2, 3, 64, 64), numpy.float32)
    full.model.eval()
    grouped.eval()
    numpy.testing.assert_allclose(full.model(Tensor(x)).data, grouped(Tensor(x)).data,
                                  rtol=1e-4, atol=1e-5)
