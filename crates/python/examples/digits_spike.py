"""A 1000x learning-rate spike on the digits, with and without RhoCap.

The setting of the reproduction's lr-spike experiment (paper Fig. 6, spec
section 6.6), in PyTorch: an MLP 64 -> 128 -> 10 (ReLU) trained by Adam
(lr 1e-3) on a seeded 80/20 split of the 1797 digits, batches of 64; from
step 50 on the learning rate is 1000x (held to the end). Plain Adam leaves
the convergence radius and the model collapses; under RhoCap (r_target = 1,
rho_a measured on the whole training part every step, as the experiment
does) every applied step stays inside rho_a and training goes on.

    python crates/python/examples/digits_spike.py [--steps 200] [--seed 0]

Needs numpy, torch and the ghosts package (pip install ./crates/python).
Takes a few seconds on a CPU. Exits 1 if the outcome is not the expected
one (plain run collapsed, capped run still accurate).
"""

import argparse
import copy
import gzip
import math
from pathlib import Path

import numpy as np
import torch

from ghosts.torch import RhoCap

DIGITS = Path(__file__).resolve().parents[3] / "datasets" / "digits.csv.gz"


def load_digits(path):
    """(1797, 64) float32 pixels / 16 in [0, 1] and (1797,) int64 labels
    (datasets/README.md: 64 pixels then the label per row, no header)."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise ValueError(f"{path}: shape {table.shape}, expected (1797, 65)")
    return (table[:, :64] / 16.0).astype(np.float32), table[:, 64]


def train(model, x, y, x_test, y_test, args, capped):
    base = 1e-3
    adam = torch.optim.Adam(model.parameters(), lr=base)
    opt = RhoCap(adam, model, r_target=1.0) if capped else adam
    rng = np.random.default_rng(args.seed + 11)
    order, at = rng.permutation(len(x)), 0
    worst_loss = 0.0
    for step in range(args.steps):
        lr = base * (args.multiplier if step >= args.spike_start else 1.0)
        for group in opt.param_groups:
            group["lr"] = lr
        if at >= len(order):
            order, at = rng.permutation(len(x)), 0
        batch = order[at : at + args.batch]
        at += args.batch
        loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        if capped:
            opt.step(x)  # rho_a over the whole training part
        else:
            opt.step()
        worst_loss = max(worst_loss, float(loss.detach()))
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).double().mean())
    return accuracy, worst_loss, opt.log if capped else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--spike-start", type=int, default=50)
    parser.add_argument("--multiplier", type=float, default=1000.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # A 9,610-parameter MLP: one thread is fastest (several wait on each
    # other, badly so on a busy machine).
    torch.set_num_threads(1)

    pixels, labels = load_digits(DIGITS)
    split = np.random.default_rng(args.seed).permutation(len(labels))
    test, tr = split[: len(split) // 5], split[len(split) // 5 :]
    x, y = torch.from_numpy(pixels[tr]), torch.from_numpy(labels[tr])
    x_test, y_test = torch.from_numpy(pixels[test]), torch.from_numpy(labels[test])

    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    )
    plain_model, capped_model = model, copy.deepcopy(model)

    print(
        f"MLP 64-128-10 on digits ({len(tr)} train / {len(test)} test), Adam lr 1e-3, "
        f"x{args.multiplier:g} from step {args.spike_start} of {args.steps}"
    )
    plain_acc, plain_loss, _ = train(plain_model, x, y, x_test, y_test, args, capped=False)
    print(f"plain Adam:  test accuracy {plain_acc:.3f}, worst batch loss {plain_loss:.3g}")
    capped_acc, capped_loss, log = train(capped_model, x, y, x_test, y_test, args, capped=True)
    print(f"RhoCap Adam: test accuracy {capped_acc:.3f}, worst batch loss {capped_loss:.3g}")
    spiked = log[args.spike_start :]
    print(
        f"  after the spike: proposed r = tau/rho_a median "
        f"{np.median([s.tau_proposed / s.rho_a for s in spiked]):.3g}, "
        f"applied r max {max(s.r for s in spiked):.3f}, "
        f"{sum(s.scale < 1 for s in spiked)} of {len(spiked)} steps capped"
    )
    ok = plain_acc < 0.5 and capped_acc > 0.85 and all(s.r <= 1 + 1e-9 for s in log)
    print("outcome: " + ("plain run collapsed, capped run survived" if ok else "NOT as expected"))
    return 0 if ok and math.isfinite(capped_loss) else 1


if __name__ == "__main__":
    raise SystemExit(main())
