"""The installed package's metadata agrees with the workspace it is built from."""

import importlib.metadata
import re

import ghosts


def _workspace_value(root, key):
    text = (root / "Cargo.toml").read_text()
    section = text.split("[workspace.package]", 1)[1].split("\n[", 1)[0]
    return re.search(rf'^{key}\s*=\s*"([^"]+)"', section, re.M).group(1)


def test_version_and_licence_are_the_workspace_ones(root):
    meta = importlib.metadata.metadata("ghosts")
    assert ghosts.__version__ == _workspace_value(root, "version")
    assert meta["Version"] == ghosts.__version__
    licence = meta.get("License-Expression") or meta.get("License")
    assert licence == _workspace_value(root, "license")
    assert meta["Requires-Python"] == ">=3.9"
    classifiers = meta.get_all("Classifier")
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    assert "Programming Language :: Rust" in classifiers


def test_typed_package_ships_its_stubs():
    from importlib.resources import files

    package = files("ghosts")
    assert package.joinpath("py.typed").is_file()
    stub = package.joinpath("_core.pyi").read_text()
    for name in ("delta_a", "rho_a", "rho_top2", "rho_exact", "binary_radius"):
        assert f"def {name}(" in stub
        assert getattr(ghosts, name).__doc__, name
