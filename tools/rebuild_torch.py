#!/usr/bin/env python3
"""Rebuild a `ghosts zoo export` in PyTorch from its files alone and check it.

    python3 tools/rebuild_torch.py EXPORT_DIR [--dtype f64|f32|both]

Reads manifest.json (format "ghosts-zoo-export", version 2) and the three
safetensors files of EXPORT_DIR (their sha256 checked against the manifest),
builds the model from the manifest's structured layer records with torch.nn
modules (Linear, LayerNorm, BatchNorm1d/2d, GELU, ReLU, Conv1d/2d, MaxPool2d,
MultiheadAttention, plus row tokens, CLS pooling, global average pooling and
residual sums as the manifest's conventions define them), loads every tensor
through its record's mapping (torch = (ours.T if transpose else
ours).reshape(torch_shape)), and compares, in eval mode,

  - the logits with data.safetensors' `logits`,
  - torch.func.jvp slopes along direction.safetensors with `slopes`,
  - pi / max_i (max_k a_ik - min_k a_ik) with the manifest's rho_a,

as normwise relative errors ||ours - torch||_2 / ||ours||_2 (rho_a: relative
error). Tolerances: in float64 every error <= 1e-12 (the two
implementations differ by rounding only: 1e-16 to 4e-15 measured on every
digits architecture, at init and trained); in float32 (the same parameters,
direction and inputs rounded to f32) logits <= 1e-5, slopes and rho_a <= 1e-4
(1e-7 to 2e-6 measured; f32 rounding, 6e-8 per operation, through the model
and its tangent, with room for a ReLU or max-pool winner flipped by it).

Needs torch only (the safetensors files are parsed here). Nothing of the
ghosts source is read: what a layer computes comes from its record and the
manifest's `conventions`.

Exit status: 0 every check within tolerance; 1 a check failed; 2 the export
cannot be read or rebuilt (missing file, checksum, unknown layer kind, a
`custom` layer), with a message naming the file or layer.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys

FORMAT, VERSION = "ghosts-zoo-export", 2
TOLERANCES = {
    "f64": {"logits": 1e-12, "slopes": 1e-12, "rho_a": 1e-12},
    "f32": {"logits": 1e-5, "slopes": 1e-4, "rho_a": 1e-4},
}


class ExportError(Exception):
    """The export cannot be read or rebuilt (exit status 2)."""


def read_safetensors(path, torch):
    """{name: tensor} of a safetensors file (F64, F32, I64; little-endian host)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ExportError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8 : 8 + n])
    except ValueError as e:
        raise ExportError(f"{path}: header is not JSON: {e}")
    dtypes = {"F64": torch.float64, "F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in dtypes:
            raise ExportError(f"{path}: tensor {name!r} has dtype {info['dtype']}")
        start, end = info["data_offsets"]
        buf = bytearray(raw[8 + n + start : 8 + n + end])
        t = torch.frombuffer(buf, dtype=dtypes[info["dtype"]]) if buf else torch.empty(0, dtype=dtypes[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def load(export_dir, torch):
    mpath = os.path.join(export_dir, "manifest.json")
    try:
        with open(mpath) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"{mpath}: {e}")
    if m.get("format") != FORMAT or m.get("format_version") != VERSION:
        raise ExportError(f"{mpath}: format {m.get('format')!r} version {m.get('format_version')}, expected {FORMAT!r} version {VERSION}")
    files = {}
    for entry in m["files"]:
        path = os.path.join(export_dir, entry["name"])
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError as e:
            raise ExportError(f"{path}: {e}")
        if digest != entry["sha256"]:
            raise ExportError(f"{path}: sha256 {digest} does not match the manifest's {entry['sha256']}")
        files[entry["name"]] = read_safetensors(path, torch)
    for name in ("params.safetensors", "direction.safetensors", "data.safetensors"):
        if name not in files:
            raise ExportError(f"{mpath}: no entry for {name} in files")
    return m, files["params.safetensors"], files["direction.safetensors"], files["data.safetensors"]


def build(m, torch):
    """The model as torch.nn modules, and {manifest tensor name: (torch path, mapping record)}."""
    nn = torch.nn

    class Reshaped(nn.Module):
        """Views the per-sample values as the record's input_shape, then applies the layer."""

        def __init__(self, shape, inner):
            super().__init__()
            self.shape, self.inner = list(shape), inner

        def forward(self, x):
            return self.inner(x.reshape(x.shape[0], *self.shape))

    class RowTokens(nn.Module):
        def __init__(self, r):
            super().__init__()
            self.embed = nn.Linear(r["row_len"], r["dim"])
            self.cls = nn.Parameter(torch.zeros(r["dim"]))
            self.pos = nn.Parameter(torch.zeros(r["tokens"], r["dim"]))
            self.at = r["cls_index"]

        def forward(self, x):  # (N, rows, row_len)
            t = self.embed(x)
            cls = self.cls.expand(x.shape[0], 1, -1)
            return torch.cat([t[:, : self.at], cls, t[:, self.at :]], dim=1) + self.pos

    class SelfAttention(nn.MultiheadAttention):
        def forward(self, x):  # (N, tokens, d)
            return super().forward(x, x, x, need_weights=False)[0]

    class ClsPool(nn.Module):
        def __init__(self, index):
            super().__init__()
            self.index = index

        def forward(self, x):  # (N, tokens, d)
            return x[:, self.index, :]

    class GlobalAvgPool(nn.Module):
        def forward(self, x):  # (N, C, ...)
            return x.flatten(2).mean(2)

    class Residual(nn.Module):
        def __init__(self, branch, shortcut, out_shape):
            super().__init__()
            self.branch, self.shortcut, self.out = nn.Sequential(*branch), nn.Sequential(*shortcut), list(out_shape)

        def forward(self, x):
            n = x.shape[0]
            f = self.branch(x).reshape(n, *self.out)
            g = (self.shortcut(x) if len(self.shortcut) else x).reshape(n, *self.out)
            return g + f

    leaves = []  # (module, record)

    def layer(r):
        kind, where = r.get("kind"), f"manifest.json: layer {r.get('path')} ({r.get('description')})"
        if kind not in m["layer_kinds"]:
            raise ExportError(f"{where}: kind {kind!r} is not one of layer_kinds")
        if kind == "linear":
            mod = nn.Linear(r["in_features"], r["out_features"], bias=r["bias"])
        elif kind == "layernorm":
            mod = nn.LayerNorm(r["features"], eps=r["eps"], elementwise_affine=r["elementwise_affine"])
        elif kind == "batchnorm":
            cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm2d}[len(r["input_shape"])]
            mod = cls(r["channels"], eps=r["eps"], momentum=r["momentum"])
        elif kind == "gelu":
            mod = nn.GELU(approximate=r["approximate"])
        elif kind == "relu":
            mod = nn.ReLU()
        elif kind == "conv1d":
            mod = nn.Conv1d(r["in_channels"], r["out_channels"], r["kernel_size"], stride=r["stride"], padding=r["padding"], bias=r["bias"])
        elif kind == "conv2d":
            mod = nn.Conv2d(r["in_channels"], r["out_channels"], tuple(r["kernel_size"]), stride=tuple(r["stride"]), padding=tuple(r["padding"]), bias=r["bias"])
        elif kind == "maxpool2d":
            mod = nn.MaxPool2d(tuple(r["kernel_size"]), stride=tuple(r["stride"]))
        elif kind == "global_avg_pool":
            mod = GlobalAvgPool()
        elif kind == "row_tokens":
            mod = RowTokens(r)
        elif kind == "attention":
            if r["qkv_packing"] != "q|k|v" or r["head_layout"] != "contiguous" or not math.isclose(r["scale"], r["d_head"] ** -0.5, rel_tol=1e-15):
                raise ExportError(f"{where}: attention packing {r['qkv_packing']}, heads {r['head_layout']}, scale {r['scale']} are not torch.nn.MultiheadAttention's")
            mod = SelfAttention(r["dim"], r["heads"], bias=r["bias"], batch_first=True)
        elif kind == "cls_pool":
            mod = ClsPool(r["token"])
        elif kind == "residual":
            mod = Residual([layer(c) for c in r["branch"]], [layer(c) for c in r["shortcut"]], r["output_shape"])
        else:
            raise ExportError(f"{where}: kind {kind!r} has no PyTorch rebuild (not a layer of the export format)")
        if r["tensors"]:
            leaves.append((mod, r))
        return Reshaped(r["input_shape"], mod)

    model = nn.Sequential(*[layer(r) for r in m["layers"]])
    paths = {id(mod): path for path, mod in model.named_modules()}
    mapping = {}
    for mod, r in leaves:
        for t in r["tensors"]:
            mapping[t["name"]] = (f"{paths[id(mod)]}.{t['torch_name']}", t)
    return model, mapping


def to_torch(t, x):
    return (x.T if t["transpose"] else x).reshape(t["torch_shape"])


def math_attention(torch):
    """Scaled dot-product attention on its plain math path: the fused CPU
    kernels (flash attention) have no forward-mode derivative."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3: no fused kernel choice to make
        import contextlib

        return contextlib.nullcontext()
    return sdpa_kernel(SDPBackend.MATH)


def check(m, params, direction, data, dtype_name, torch):
    dtype = {"f64": torch.float64, "f32": torch.float32}[dtype_name]
    model, mapping = build(m, torch)
    model = model.to(dtype).eval()
    names = [t["name"] for t in m["tensors"] if t["kind"] == "param"]
    buffer_names = [t["name"] for t in m["tensors"] if t["kind"] == "buffer"]
    for n in names + buffer_names:
        if n not in mapping:
            raise ExportError(f"manifest.json: tensor {n!r} belongs to no layer record")
        if n not in params:
            raise ExportError(f"params.safetensors: tensor {n!r} missing")
    torch_params = {name for name, _ in model.named_parameters()}
    mapped = {mapping[n][0] for n in names}
    if torch_params != mapped:
        raise ExportError(f"the rebuilt model's parameters {sorted(torch_params ^ mapped)} are not covered one to one by the manifest's tensors")
    path = lambda n: mapping[n][0]
    conv = lambda n, src: to_torch(mapping[n][1], src[n]).to(dtype)
    primals = tuple(conv(n, params) for n in names)
    tangents = tuple(conv(n, direction) for n in names)
    buffers = {path(n): conv(n, params) for n in buffer_names}
    x = data["inputs"].to(dtype)
    n, k = x.shape[0], m["classes"]

    def f(*theta):
        return torch.func.functional_call(model, {**dict(zip(map(path, names), theta)), **buffers}, (x,)).reshape(n, k)

    with math_attention(torch):
        z, a = torch.func.jvp(f, primals, tangents)
    z, a = z.double(), a.double()
    rel = lambda ours, theirs: ((ours - theirs).norm() / ours.norm()).item()
    spread = (a.max(1).values - a.min(1).values).max().item()
    rho = math.pi / spread if spread > 0 else None
    errors = {
        "logits": rel(data["logits"], z),
        "slopes": rel(data["slopes"], a),
        "rho_a": 0.0 if rho is None and m["rho_a"] is None else (abs(rho - m["rho_a"]) / m["rho_a"] if rho and m["rho_a"] else math.inf),
    }
    return errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export_dir")
    ap.add_argument("--dtype", choices=["f64", "f32", "both"], default="both")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError as e:
        print(f"rebuild_torch: torch is not importable ({e}); pip install torch", file=sys.stderr)
        return 2
    if hasattr(torch.backends, "mha") and hasattr(torch.backends.mha, "set_fastpath_enabled"):
        # The fused inference kernel has no forward-mode derivative.
        torch.backends.mha.set_fastpath_enabled(False)
    try:
        m, params, direction, data = load(args.export_dir, torch)
        dtypes = ["f64", "f32"] if args.dtype == "both" else [args.dtype]
        results = {d: check(m, params, direction, data, d, torch) for d in dtypes}
    except ExportError as e:
        print(f"rebuild_torch: {e}", file=sys.stderr)
        return 2
    kinds = sorted({r["kind"] for r in _walk(m["layers"])})
    print(f"{m['arch']}: {len(m['layers'])} layers ({', '.join(kinds)}), parameters {m['parameters']['source']}, {m['data']['samples']} samples, torch {torch.__version__}")
    failed = False
    for d, errs in results.items():
        parts = []
        for key, err in errs.items():
            tol = TOLERANCES[d][key]
            ok = err <= tol
            failed |= not ok
            parts.append(f"{key} {err:.2e} (tol {tol:.0e}{'' if ok else ', FAIL'})")
        print(f"  {d}: " + ", ".join(parts))
    print("FAIL" if failed else "ok")
    return 1 if failed else 0


def _walk(layers):
    for r in layers:
        yield r
        if r.get("kind") == "residual":
            yield from _walk(r["branch"])
            yield from _walk(r["shortcut"])


if __name__ == "__main__":
    sys.exit(main())
