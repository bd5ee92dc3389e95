"""ghosts (numpy API) against the `ghosts radius` CLI (bit for bit), closed
forms, and its input checks."""

import json
import math
import subprocess
import threading
import time

import numpy as np
import pytest

import ghosts


def bits(x):
    """float64 / complex128 values as integers, so NaN == NaN and -0 != 0."""
    x = np.ascontiguousarray(x)
    if x.dtype == np.complex128:
        x = x.view(np.float64)
    return x.astype(np.float64, copy=False).view(np.uint64)


def same_bits(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and np.array_equal(bits(x), bits(y))


def random_samples(seed, b, k, extreme=True):
    """Logits and slopes over many scales, with the edge rows the CLI must
    agree on: equal slopes (no ghost), equal logits, ties, and (``extreme``)
    a spread beyond the float64 range."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, (b, k))
    scale = 10.0 ** rng.uniform(-3, 3, (b, 1))
    a = rng.normal(0.0, 1.0, (b, k)) * scale
    z[0], a[0] = 0.0, 0.7  # all slopes equal: infinite radii
    if k > 1:
        z[1] = 1.5  # equal logits
        a[2, 0] = a[2, 1]  # a tie in the slopes
        if extreme:
            a[3, 0], a[3, -1] = -1e308, 1e308  # a spread beyond the f64 range
        z[4] = np.round(z[4])  # ties in the logits
    return z, a


def cli_file(cli, path, *extra):
    out = subprocess.run(
        [str(cli), "radius", "--file", str(path), "--json", *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def cli_error(cli, *args):
    out = subprocess.run([str(cli), "radius", *args], capture_output=True, text=True)
    assert out.returncode == 2, out
    message = out.stderr.strip()
    assert message.startswith("error: "), message
    return message[len("error: ") :]


def write_csv(path, z, a):
    # repr() is the shortest text that reads back to the same float64.
    rows = [",".join(repr(float(v)) for v in np.concatenate([zi, ai])) for zi, ai in zip(z, a)]
    path.write_text("\n".join(rows) + "\n")


def inf_if_null(values):
    return np.array([math.inf if v is None else v for v in values], dtype=np.float64)


def nan_if_null(values):
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_every_radius_equals_the_cli_bit_for_bit(cli, tmp_path, k):
    z, a = random_samples(seed=k, b=60, k=k)
    path = tmp_path / "samples.csv"
    write_csv(path, z, a)
    report = cli_file(cli, path)
    rows = report["samples"]
    want = {key: [r[key] for r in rows] for key in rows[0]}

    assert same_bits(ghosts.delta_a(a), inf_if_null(want["delta_a"]))
    set_radius = ghosts.rho_a(a)
    assert same_bits(set_radius.per_sample, inf_if_null(want["rho_a"]))
    assert set_radius.bottleneck == report["bottleneck"]
    assert same_bits(set_radius.rho_a, inf_if_null([report["set_rho_a"]])[0])
    assert same_bits(set_radius.delta_a, inf_if_null([report["set_delta_a"]])[0])

    top2 = ghosts.rho_top2(z, a)
    assert same_bits(top2.rho_top2, inf_if_null(want["rho_top2"]))

    exact = ghosts.rho_exact(z, a)
    assert same_bits(exact.rho_exact, inf_if_null(want["rho_exact"]))
    assert same_bits(exact.ghost.real, nan_if_null(want["ghost_re"]))
    assert same_bits(exact.ghost.imag, nan_if_null(want["ghost_im"]))
    assert int(np.argmin(exact.rho_exact)) == (report["min_rho_exact_sample"] or 0)

    if k > 1:
        label = k - 1
        want_label = cli_file(cli, path, "--label", str(label))["samples"]
        got = ghosts.rho_top2(z, a, labels=np.full(len(z), label))
        assert same_bits(got.rho_top2, inf_if_null([r["rho_top2"] for r in want_label]))
        assert (got.label == label).all()


def test_float32_and_memory_order_give_the_same_numbers():
    z, a = random_samples(seed=7, b=40, k=6, extreme=False)
    a32, z32 = a.astype(np.float32), z.astype(np.float32)
    # float32 is widened exactly: the float64 results of the widened arrays.
    assert same_bits(ghosts.delta_a(a32), ghosts.delta_a(a32.astype(np.float64)))
    assert same_bits(
        ghosts.rho_exact(z32, a32).ghost,
        ghosts.rho_exact(z32.astype(np.float64), a32.astype(np.float64)).ghost,
    )
    reference = ghosts.rho_exact(z, a)
    views = [
        (np.asfortranarray(z), np.asfortranarray(a)),
        (np.ascontiguousarray(z.T).T, np.ascontiguousarray(a.T).T),
        (z[::-1].copy()[::-1], a[:, ::-1].copy()[:, ::-1]),  # negative strides
    ]
    wide_z, wide_a = np.zeros((40, 12)), np.zeros((40, 12))
    wide_z[:, ::2], wide_a[:, ::2] = z, a
    views.append((wide_z[:, ::2], wide_a[:, ::2]))  # strided columns
    for zv, av in views:
        assert not zv.flags.c_contiguous and not av.flags.c_contiguous
        got = ghosts.rho_exact(zv, av)
        assert same_bits(got.rho_exact, reference.rho_exact)
        assert same_bits(got.ghost, reference.ghost)
        assert same_bits(ghosts.rho_a(av).per_sample, ghosts.rho_a(a).per_sample)
        assert same_bits(ghosts.rho_top2(zv, av).rho_top2, ghosts.rho_top2(z, a).rho_top2)
    # Lists go through numpy.asarray(x, dtype=float64).
    assert same_bits(ghosts.delta_a(a.tolist()), ghosts.delta_a(a))


def test_outputs_have_the_documented_shapes_and_dtypes():
    z, a = random_samples(seed=3, b=5, k=4)
    assert ghosts.delta_a(a).shape == (5,) and ghosts.delta_a(a).dtype == np.float64
    r = ghosts.rho_a(a)
    assert isinstance(r.rho_a, float) and isinstance(r.bottleneck, int)
    assert r.per_sample.shape == (5,)
    t = ghosts.rho_top2(z, a)
    assert t.ghost.dtype == np.complex128 and t.label.dtype == np.int64
    assert all(getattr(t, f).shape == (5,) for f in t._fields)
    e = ghosts.rho_exact(z, a)
    assert e.ghost.dtype == np.complex128
    assert all(getattr(e, f).shape == (5,) for f in e._fields)
    assert ghosts.binary_radius(np.ones((2, 3)), np.ones((2, 3))).shape == (2, 3)
    assert isinstance(ghosts.binary_radius(1.0, 2.0), np.float64)
    empty = ghosts.rho_a(np.zeros((0, 3)))
    assert empty.rho_a == math.inf and empty.bottleneck is None
    assert ghosts.rho_exact(np.zeros((0, 3)), np.zeros((0, 3))).rho_exact.shape == (0,)


def test_spread_and_set_radius_against_numpy():
    _, a = random_samples(seed=11, b=200, k=10)
    a = a[5:]  # finite spreads only
    spreads = a.max(axis=1) - a.min(axis=1)
    assert same_bits(ghosts.delta_a(a), spreads)
    assert same_bits(ghosts.rho_a(a).per_sample, np.pi / spreads)
    r = ghosts.rho_a(a)
    assert r.bottleneck == int(np.argmax(spreads)) and r.rho_a == np.pi / spreads.max()
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        s = np.sort(spreads)
        pos = q * (len(s) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        want = s[lo] + (s[hi] - s[lo]) * (pos - lo)
        r = ghosts.rho_a(a, aggregation=q)
        assert r.delta_a == want and r.rho_a == np.pi / want
        assert np.isclose(want, np.quantile(spreads, q), rtol=1e-12)
        at_or_above = np.where(spreads >= want)[0]
        assert r.bottleneck == at_or_above[np.argmin(spreads[at_or_above])]


def test_exact_radius_of_two_classes_is_the_binary_formula():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 4, (500, 2))
    a = rng.normal(0, 1, (500, 2)) * 10.0 ** rng.uniform(-2, 2, (500, 1))
    margin, gap = z[:, 0] - z[:, 1], a[:, 0] - a[:, 1]
    closed_form = np.hypot(margin, np.pi) / np.abs(gap)  # paper eq. 7
    exact = ghosts.rho_exact(z, a)
    np.testing.assert_allclose(exact.rho_exact, closed_form, rtol=1e-12)
    np.testing.assert_allclose(ghosts.binary_radius(margin, gap), closed_form, rtol=1e-15)
    # The ghost: t0 = (-delta + i pi) / Delta, conjugated into Im > 0.
    t0 = (-margin + 1j * np.pi) / gap
    t0 = np.where(t0.imag < 0, t0.conj(), t0)
    np.testing.assert_allclose(exact.ghost, t0, rtol=1e-12)
    # F vanishes there: e^{z1 + a1 t0} + e^{z2 + a2 t0} = 0.
    terms = np.exp(z + a * exact.ghost[:, None])
    assert (np.abs(terms.sum(axis=1)) <= 1e-9 * np.abs(terms).sum(axis=1)).all()
    # rho_a <= rho* everywhere, with equality at zero margin.
    assert (ghosts.rho_a(a).per_sample <= exact.rho_exact * (1 + 1e-15)).all()
    assert ghosts.binary_radius(0.0, 2.0) == np.pi / 2
    assert ghosts.binary_radius(1.0, 0.0) == math.inf


def test_exact_radius_is_certified_and_above_rho_a():
    z, a = random_samples(seed=21, b=100, k=10)
    e = ghosts.rho_exact(z, a)
    per_sample = ghosts.rho_a(a).per_sample
    assert (per_sample <= e.rho_exact).all()
    finite = np.isfinite(e.rho_exact)
    np.testing.assert_array_equal(
        e.certified_zero_free[finite], e.rho_exact[finite] * (1 - ghosts.CERTIFY_SHRINK)
    )
    assert np.isnan(e.ghost[~finite]).all()


ERRORS = [
    (
        lambda: ghosts.delta_a(np.array([1.0, 2.0])),
        ValueError,
        "slopes must be a 2-D array of shape (B, K) (samples x classes); got shape (2,)",
    ),
    (
        lambda: ghosts.rho_a(np.zeros((2, 3, 4))),
        ValueError,
        "slopes must be a 2-D array of shape (B, K) (samples x classes); got shape (2, 3, 4)",
    ),
    (
        lambda: ghosts.delta_a(np.zeros((4, 0))),
        ValueError,
        "slopes has shape (4, 0): empty input: at least one class expected",
    ),
    (
        lambda: ghosts.delta_a(np.array([[0.0, 1.0], [2.0, np.nan]])),
        ValueError,
        "sample 1: slope 1 is NaN: finite numbers expected",
    ),
    (
        lambda: ghosts.rho_a(np.array([[0.0, -np.inf]])),
        ValueError,
        "sample 0: slope 1 is -inf: finite numbers expected",
    ),
    (
        lambda: ghosts.rho_exact(np.array([[0.0, 1.0, np.inf]]), np.array([[0.0, np.nan, 1.0]])),
        ValueError,
        "sample 0: logit 2 is inf: finite numbers expected",
    ),
    (
        lambda: ghosts.rho_top2(np.zeros((3, 2)), np.zeros((3, 3))),
        ValueError,
        "logits has shape (3, 2) but slopes has shape (3, 3): one slope per logit expected",
    ),
    (
        lambda: ghosts.rho_exact(np.zeros((2, 3)), np.zeros((3, 3))),
        ValueError,
        "logits has shape (2, 3) but slopes has shape (3, 3): one slope per logit expected",
    ),
    (
        lambda: ghosts.rho_top2(np.zeros((2, 3)), np.zeros((2, 3)), labels=[0, 3]),
        ValueError,
        "sample 1: label 3 is out of range: 3 classes (labels 0..2)",
    ),
    (
        lambda: ghosts.rho_top2(np.zeros((2, 3)), np.zeros((2, 3)), labels=[-1, 0]),
        ValueError,
        "sample 0: label -1 is out of range: 3 classes (labels 0..2)",
    ),
    (
        lambda: ghosts.rho_top2(np.zeros((2, 3)), np.zeros((2, 3)), labels=[0, 1, 2]),
        ValueError,
        "labels has shape (3,) but logits has 2 samples: one label per sample expected",
    ),
    (
        lambda: ghosts.rho_top2(np.zeros((2, 3)), np.zeros((2, 3)), labels=[0.0, 1.0]),
        TypeError,
        "labels has dtype float64: integer class indices expected",
    ),
    (
        lambda: ghosts.delta_a(np.zeros((2, 3), dtype=np.int64)),
        TypeError,
        "slopes has dtype int64: float64 or float32 expected",
    ),
    (
        lambda: ghosts.rho_a(np.zeros((2, 3)), aggregation="min"),
        ValueError,
        "aggregation must be \"max\" or a quantile q in [0, 1]; got 'min'",
    ),
    (
        lambda: ghosts.rho_a(np.zeros((2, 3)), aggregation=1.5),
        ValueError,
        'aggregation must be "max" or a quantile q in [0, 1]; got 1.5',
    ),
    (
        lambda: ghosts.rho_a(np.zeros((2, 3)), aggregation=True),
        ValueError,
        'aggregation must be "max" or a quantile q in [0, 1]; got True',
    ),
    (
        lambda: ghosts.binary_radius(np.zeros(3), np.zeros(2)),
        ValueError,
        "margin has shape (3,) but slope has shape (2,): one slope per margin expected",
    ),
    (
        lambda: ghosts.binary_radius([1.0, np.nan], [1.0, 1.0]),
        ValueError,
        "margin 1 is NaN: finite numbers expected",
    ),
    (
        lambda: ghosts.rho_exact(np.array([[1e308, -1e308]]), np.array([[1.0, 0.0]])),
        ValueError,
        "sample 0: logit spread max z - min z = 1e308 - (-1e308) overflows f64 "
        "(above 1.7976931348623157e308)",
    ),
]


@pytest.mark.parametrize("call,kind,message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors_name_what_is_wrong(call, kind, message):
    with pytest.raises(kind) as caught:
        call()
    assert str(caught.value) == message


def test_error_wording_is_the_clis(cli, tmp_path):
    # The exact radius's own errors: the CLI's words after the sample.
    path = tmp_path / "overflow.csv"
    path.write_text("1e308,-1e308,1,0\n")
    cli_text = cli_error(cli, "--file", str(path))
    assert cli_text.startswith(f"{path}: line 1 (sample 0): ")
    with pytest.raises(ValueError) as caught:
        ghosts.rho_exact(np.array([[1e308, -1e308]]), np.array([[1.0, 0.0]]))
    assert str(caught.value) == "sample 0: " + cli_text.split("(sample 0): ", 1)[1]
    # Lengths that differ, a label out of range, a NaN: the same reason.
    cli_text = cli_error(cli, "--logits", "1,2", "--slopes", "1")
    with pytest.raises(ValueError) as caught:
        ghosts.rho_exact(np.array([[1.0, 2.0]]), np.array([[1.0]]))
    assert str(caught.value).rsplit(": ", 1)[1] == cli_text.rsplit(": ", 1)[1]
    cli_text = cli_error(cli, "--logits", "1,2,3", "--slopes", "1,0,0", "--label", "3")
    with pytest.raises(ValueError) as caught:
        ghosts.rho_top2(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 0.0, 0.0]]), labels=[3])
    assert str(caught.value) == "sample 0: " + cli_text.removeprefix("--")
    cli_text = cli_error(cli, "--logits", "1,nan", "--slopes", "1,0")
    with pytest.raises(ValueError) as caught:
        ghosts.rho_exact(np.array([[1.0, np.nan]]), np.array([[1.0, 0.0]]))
    assert str(caught.value).rsplit(": ", 1)[1] == cli_text.rsplit(": ", 1)[1]


def test_batch_work_releases_the_gil():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (3000, 10))
    a = rng.normal(0, 1, (3000, 10))
    start = time.perf_counter()
    ghosts.rho_exact(z, a)
    alone = time.perf_counter() - start
    done = threading.Event()
    stamps = []

    def work():
        ghosts.rho_exact(z, a)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    gaps = np.diff(stamps) if len(stamps) > 1 else np.array([alone])
    # Holding the GIL would stall this loop for the whole call.
    assert alone > 0.05, f"the batch took only {alone:.3f} s: too short to tell"
    assert gaps.max() < alone / 2, (gaps.max(), alone)


def test_readme_numpy_example_runs_and_prints_the_cli_numbers(capsys):
    from conftest import readme_python_blocks

    block = readme_python_blocks()[0]
    assert "import torch" not in block
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    # The README's `ghosts radius` example: rho_a 0.7853981634, ghost -0.793 ± 0.802i.
    assert printed.startswith("0.7853981633974483 [-0.79303307+0.80193784j]"), printed
