"""ghosts.torch: slopes against finite differences, rho_a_along against the
numpy API, and RhoCap bounding every applied step."""

import math

import numpy as np
import pytest

from conftest import require_torch

torch = require_torch()
# Models of a few hundred parameters: one thread is fastest, and OpenMP's
# waiting threads would make every op slow on a busy machine.
torch.set_num_threads(1)

import ghosts  # noqa: E402
from ghosts.torch import RhoCap, rho_a_along, slopes, trainable  # noqa: E402


def mlp(seed, dtype=torch.float64, hidden=16, classes=5, inputs=6):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.GELU(),
        torch.nn.Linear(hidden, classes),
    ).to(dtype)


def unit_direction(model, seed):
    g = torch.Generator().manual_seed(seed)
    params = trainable(model)
    v = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params.values()]
    norm = math.sqrt(sum(float((t * t).sum()) for t in v))
    return [t / norm for t in v]


def logits_at(model, direction, t, x):
    with torch.no_grad():
        saved = [p.clone() for p in trainable(model).values()]
        for p, d in zip(trainable(model).values(), direction):
            p.add_(d, alpha=t)
        z = model(x)
        for p, s in zip(trainable(model).values(), saved):
            p.copy_(s)
    return z


def test_slopes_match_central_differences_in_float64():
    model = mlp(0)
    x = torch.randn(32, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    v = unit_direction(model, 2)
    a = slopes(model, x, v)
    h = 1e-5
    fd = (logits_at(model, v, h, x) - logits_at(model, v, -h, x)) / (2 * h)
    assert a.shape == (32, 5) and a.dtype == torch.float64
    # Central differences err by O(h^2) plus rounding ~1e-16/h.
    torch.testing.assert_close(a, fd, rtol=1e-7, atol=1e-9)
    # The three ways to give a direction agree.
    names = list(trainable(model))
    flat = torch.cat([t.reshape(-1) for t in v])
    assert torch.equal(slopes(model, x, dict(zip(names, v))), a)
    assert torch.equal(slopes(model, x, flat), a)
    # A missing name moves by 0: only the last layer moves.
    last = {names[-2]: v[-2], names[-1]: v[-1]}
    only_last = [torch.zeros_like(t) for t in v[:-2]] + v[-2:]
    torch.testing.assert_close(slopes(model, x, last), slopes(model, x, only_last))


def test_slopes_check_the_direction():
    model = mlp(0)
    x = torch.zeros(2, 6, dtype=torch.float64)
    v = unit_direction(model, 2)
    with pytest.raises(ValueError, match="direction has 5 tensors but the model has 6"):
        slopes(model, x, v[:-1])
    with pytest.raises(ValueError, match=r"a flat vector of \d+ values"):
        slopes(model, x, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="not trainable parameters"):
        slopes(model, x, {"nope": v[0]})
    with pytest.raises(ValueError, match=r"direction for 0.weight has shape \(2,\)"):
        slopes(model, x, [torch.zeros(2, dtype=torch.float64)] + v[1:])


def test_rho_a_along_is_rho_a_of_the_slopes():
    model = mlp(3, dtype=torch.float32)
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(4))
    v = unit_direction(model, 5)
    got = rho_a_along(model, x, v)
    want = ghosts.rho_a(slopes(model, x, v).numpy())
    assert got.rho_a == want.rho_a and got.bottleneck == want.bottleneck
    a = slopes(model, x, v).double().numpy()
    assert got.rho_a == pytest.approx(math.pi / (a.max(1) - a.min(1)).max(), rel=1e-12)
    # Radius in units of t along v: twice the direction, half the radius.
    double = rho_a_along(model, x, [2 * t for t in v])
    assert double.rho_a == pytest.approx(got.rho_a / 2, rel=1e-6)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: torch.optim.SGD(p, lr=50.0),
        lambda p: torch.optim.SGD(p, lr=5.0, momentum=0.9),
        lambda p: torch.optim.Adam(p, lr=1.0),
    ],
    ids=["sgd", "momentum", "adam"],
)
def test_rho_cap_bounds_every_applied_step(make_optimizer):
    model = mlp(7)
    g = torch.Generator().manual_seed(8)
    x = torch.randn(128, 6, dtype=torch.float64, generator=g)
    y = torch.randint(0, 5, (128,), generator=g)
    r_target = 0.5
    opt = RhoCap(make_optimizer(model.parameters()), model, r_target=r_target)
    capped = 0
    for _ in range(25):
        before = [p.detach().clone() for p in model.parameters()]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step(x)
        step = [p.detach() - b for p, b in zip(model.parameters(), before)]
        tau = math.sqrt(sum(float((s * s).sum()) for s in step))
        rec = opt.log[-1]
        # The radius logged is rho_a along the applied direction, at the
        # parameters before the step.
        with torch.no_grad():
            applied = [p.clone() for p in model.parameters()]
            for p, b in zip(model.parameters(), before):
                p.copy_(b)
        rho = rho_a_along(model, x, [s / tau for s in step]).rho_a
        with torch.no_grad():
            for p, a in zip(model.parameters(), applied):
                p.copy_(a)
        assert rho == pytest.approx(rec.rho_a, rel=1e-9)
        assert tau <= r_target * rho * (1 + 1e-9)
        assert tau == pytest.approx(rec.tau, rel=1e-9)
        assert rec.r <= r_target * (1 + 1e-12)
        capped += rec.scale < 1
        assert math.isfinite(float(loss.detach()))
    # These rates are far outside the radius: the cap acted.
    assert capped >= 20


def test_rho_cap_leaves_steps_inside_the_radius_alone():
    model, twin = mlp(9), mlp(9)
    x = torch.randn(64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.arange(64) % 5
    capped = RhoCap(torch.optim.SGD(model.parameters(), lr=1e-3), model)
    plain = torch.optim.SGD(twin.parameters(), lr=1e-3)
    for _ in range(5):
        for m, o in ((model, capped), (twin, plain)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
        capped.step(x)
        plain.step()
    assert all(rec.scale == 1.0 and rec.r < 1 for rec in capped.log)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)


def test_rho_cap_probes_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ).double()
    x = torch.randn(16, 6, dtype=torch.float64)
    opt = RhoCap(torch.optim.SGD(model.parameters(), lr=0.1), model)
    torch.nn.functional.cross_entropy(model(x), torch.zeros(16, dtype=torch.long)).backward()
    stats = model[1].running_mean.clone()
    opt.step(x)
    assert model.training and model[1].training
    # The probe did not touch BatchNorm's running statistics.
    assert torch.equal(model[1].running_mean, stats)


def test_rho_cap_refuses_foreign_parameters_and_bad_targets():
    model = mlp(0)
    other = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="not a trainable parameter of the model"):
        RhoCap(torch.optim.SGD(other.parameters(), lr=1.0), model)
    with pytest.raises(ValueError, match="r_target = 0"):
        RhoCap(torch.optim.SGD(model.parameters(), lr=1.0), model, r_target=0)


def test_rho_cap_skips_a_non_finite_update():
    model = mlp(0)
    x = torch.zeros(4, 6, dtype=torch.float64)
    opt = RhoCap(torch.optim.SGD(model.parameters(), lr=1.0), model)
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.full_like(p, math.nan)
    opt.step(x)
    assert opt.log[-1].scale == 0.0 and math.isnan(opt.log[-1].r)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert np.isnan(opt.log[-1].rho_a)


def test_digits_spike_example_collapses_plain_and_survives_capped(root):
    import subprocess
    import sys

    script = root / "crates" / "python" / "examples" / "digits_spike.py"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "outcome: plain run collapsed, capped run survived" in out.stdout


def test_readme_torch_example_runs_and_caps(capsys):
    from conftest import readme_python_blocks

    block = readme_python_blocks()[1]
    assert "RhoCap" in block
    scope = {}
    exec(compile(block, "README.md", "exec"), scope)
    log = scope["opt"].log
    assert len(log) == 20 and all(rec.r <= 1 + 1e-9 for rec in log)
    assert sum(rec.scale < 1 for rec in log) >= 10  # lr 1.0 is far outside the radius
    assert "StepRecord(" in capsys.readouterr().out
