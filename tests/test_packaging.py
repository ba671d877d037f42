"""Packaging that stays installable: one declaration of each dependency, exact pins for all of
them, a license pip accepts after 2027, one stated Python version, and what `make test` checks."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.notebook_utils import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirement_lines(path):
    """The requirements of a pip requirements file, without comments, options and `-e .`."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith(("#", "-", ".")):  # options, -c/-r, `-e .[...]`
            out.append(Requirement(line))
    return out


def _pins():
    pins = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s=]+)", line)
        assert match, f"constraints.txt line {number}: expected one 'name==version' per line; got {line!r}"
        name = canonicalize_name(match[1])
        assert name not in pins, f"constraints.txt pins {match[1]} twice"
        pins[name] = match[2]
    return pins


PACKAGE_DEPS = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
TOOL_DEPS = _requirement_lines(ROOT / "requirements.txt")
PINS = _pins()


def test_license_is_an_spdx_expression_with_a_setuptools_that_reads_it():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT", "PEP 639: license = \"MIT\", not the { text = ... } table"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    (setuptools,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    # setuptools 77 is the first to accept an SPDX string in project.license
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")


def test_each_dependency_is_declared_once():
    package = {canonicalize_name(r.name) for r in PACKAGE_DEPS}
    tools = [canonicalize_name(r.name) for r in TOOL_DEPS]
    assert len(tools) == len(set(tools)), "requirements.txt lists a package twice"
    assert package.isdisjoint(tools), (
        f"{sorted(package & set(tools))} are declared in pyproject.toml and again in requirements.txt; "
        "keep what `import labs` needs in pyproject.toml only")
    editable = [line for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
                if line.startswith("-e .")]
    assert len(editable) == 1, "requirements.txt installs the package itself once, with `-e .` (or `-e .[extra,...]`)"
    # an extra (an optional feature of labs, e.g. labs[gpt2]) is pulled in by naming it on the
    # `-e .[...]` line, never by repeating its packages in requirements.txt
    extras = PYPROJECT["project"].get("optional-dependencies", {})
    assert "test" not in extras, "the tools for the tests are declared in requirements.txt"
    for extra, reqs in extras.items():
        repeated = {canonicalize_name(Requirement(r).name) for r in reqs} & set(tools)
        assert not repeated, f"{sorted(repeated)} are in the [{extra}] extra and again in requirements.txt"
    assert not {"jupyter", "notebook"} & set(tools), "the jupyter metapackage pulls notebook 7, which nothing uses"


def test_constraints_pin_every_declared_package_pip_and_setuptools():
    unpinned = [r.name for r in PACKAGE_DEPS + TOOL_DEPS if canonicalize_name(r.name) not in PINS]
    assert not unpinned, f"not pinned in constraints.txt: {unpinned}; run `make constraints`"
    assert {"pip", "setuptools", "nest-asyncio"} <= set(PINS)
    assert "nest-asyncio2" not in PINS, "a stale pin: nothing installs nest-asyncio2"
    assert "+" not in PINS["torch"], "pin torch without the local label, so that a CPU or a CUDA build both match"
    # the pins satisfy the declared ranges
    for r in PACKAGE_DEPS + TOOL_DEPS:
        assert r.specifier.contains(PINS[canonicalize_name(r.name)], prereleases=True), (r, PINS[canonicalize_name(r.name)])
    build = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    assert all(r.specifier.contains(PINS[canonicalize_name(r.name)]) for r in build)


def _third_party_imports(folder):
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("labs", "tests", "tools", "benchmarks")
            and m not in LOCAL_MODULES}


# Modules of this repository imported by name from their own folder (benchmarks import each other;
# the book's Sphinx extension sits in book/_ext).
LOCAL_MODULES = {p.stem for folder in ("tools", "tests", "benchmarks", "book/_ext") for p in (ROOT / folder).glob("*.py")}


# Imported by labs only inside `try: ... except ImportError` (a plain Python or a bare Colab runtime).
OPTIONAL_FOR_LABS = {"IPython", "myst_nb"}


@pytest.mark.parametrize("folder", ["labs", "tools", "tests", "benchmarks"])
def test_every_import_is_declared(folder):
    declared = {canonicalize_name(r.name) for r in PACKAGE_DEPS}
    declared |= {canonicalize_name(Requirement(r).name)  # an optional feature's extra, e.g. labs[gpt2]
                 for reqs in PYPROJECT["project"].get("optional-dependencies", {}).values() for r in reqs}
    if folder != "labs":
        declared |= {canonicalize_name(r.name) for r in TOOL_DEPS}
    providers = metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_third_party_imports(folder) - (OPTIONAL_FOR_LABS if folder == "labs" else set())):
        dists = {canonicalize_name(d) for d in providers.get(module, [module])}
        if not dists & declared:
            undeclared[module] = sorted(dists)
    where = "pyproject.toml's dependencies" if folder == "labs" else "requirements.txt"
    assert not undeclared, f"{folder}/ imports {undeclared} without declaring it; add it to {where}"


def test_python_version_is_stated_once():
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    (minimum,) = [s.version for s in spec if s.operator == ">="]
    stated = {}
    for doc in ("README.md", "book/setup.md", "book/intro.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        stated[doc] = re.findall(r"Python (3\.\d+)(?: or newer| to 3\.\d+)", text)
    assert all(v == [minimum] for v in stated.values()), f"pyproject.toml says >={minimum}; the docs say {stated}"
    assert spec.contains(".".join(map(str, sys.version_info[:3])))


def test_pinned_packages_install_on_the_stated_python():
    """Every pinned distribution installed here at its pin accepts the oldest Python the docs state
    (soupsieve 3.0.2 and later need 3.11.5, newer than Debian 12's python3, 3.11.2: `make constraints`,
    run with that interpreter, keeps an older soupsieve)."""
    minimum = next(s.version for s in SpecifierSet(PYPROJECT["project"]["requires-python"]) if s.operator == ">=")
    oldest = Version(minimum + ".2" if minimum.count(".") == 1 else minimum)  # 3.11.2: Debian 12's python3
    refused = []
    for name, version in PINS.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if canonicalize_name(dist.metadata["Name"]) != name or dist.version.split("+")[0] != version:
            continue  # a different version here: the pin is checked where it is installed
        needs = dist.metadata.get("Requires-Python")
        if needs and not SpecifierSet(needs).contains(oldest):
            refused.append(f"{name}=={version} needs Python {needs}")
    assert not refused, refused


def test_make_test_lints_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (test_line,) = [line for line in makefile.splitlines() if line.startswith("test:")]
    assert test_line.split()[1:] == ["$(STAMP)", "lint", "unit", "notebooks", "book-strict", "browser-test"]
    assert "ruff check ." in makefile and "nbstripout --verify" in makefile
    assert "[tool.ruff.lint]" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.strip().splitlines()[-1] == "make test"


def test_binder_installs_the_pinned_cpu_build():
    requirements = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert "-c ../constraints.txt" in requirements and "." in requirements
    runtime = (ROOT / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(runtime.removeprefix("python-") + ".0")


def test_numpy_lower_bound_is_one_the_pinned_packages_accept():
    """pyproject's oldest NumPy must install with the pinned scipy, matplotlib, scikit-learn ...
    (numpy>=1.24 was once declared while the pinned scipy needed 1.26.4; JAX and shap need 2.0).
    To run the tests with it: `sed 's/^numpy==.*/numpy==2.0.2/' constraints.txt` into a fresh environment."""
    (numpy,) = [r for r in PACKAGE_DEPS if r.name == "numpy"]
    (oldest,) = [Version(s.version) for s in numpy.specifier if s.operator == ">="]
    refused = []
    for name, version in PINS.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version.split("+")[0] != version:
            continue
        for line in dist.requires or []:
            need = Requirement(line)
            if canonicalize_name(need.name) == "numpy" and (need.marker is None or need.marker.evaluate()):
                if not need.specifier.contains(oldest):
                    refused.append(f"{name}=={version} needs numpy{need.specifier}")
    assert not refused, f"numpy>={oldest} is declared, but {refused}"
