"""tools/nbval_cache.py: nbval's run of a notebook fills the book's execution cache with the
outputs Jupyter Book's own executor (nbclient) would have produced, so `make test` runs each
notebook once."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest
from jupyter_cache import get_cache
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from tests.notebook_utils import ROOT

CELLS = [
    "x = 6 * 7\nx",                                  # a value: execute_result, count 1
    "print('a'); print('b')\nx;",                    # one merged stream; the `;` hides the value
    "from IPython.display import clear_output, display\nprint('gone')\nclear_output()\ndisplay('kept')",
    "import ipywidgets\nout = ipywidgets.Output()\nwith out:\n    print('inside the widget')\ndisplay(out)",
]


def _notebook(tmp_path, cells=CELLS, name="tiny.ipynb"):
    nb = new_notebook(cells=[new_markdown_cell("# tiny")] + [new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _nbval(path, cache):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "tools.nbval_cache", "--nbval-lax",
         "--nbval-cache", str(cache), "--rootdir", str(path.parent), "-p", "no:cacheprovider", str(path)],
        capture_output=True, text=True, env=env, cwd=path.parent, timeout=300)


def test_nbval_run_is_cached_as_nbclient_would_execute_it(tmp_path):
    path = _notebook(tmp_path)
    cache = tmp_path / "cache"
    run = _nbval(path, cache)
    assert run.returncode == 0, run.stdout + run.stderr
    # what myst-nb does in `execute_notebooks: cache` mode: match the notebook, merge its outputs
    _, merged = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(path, as_version=4))
    code = [c for c in merged.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3, 4]
    assert [o.output_type for o in code[0].outputs] == ["execute_result"] and code[0].outputs[0].data["text/plain"] == "42"
    assert [(o.output_type, o.get("text")) for o in code[1].outputs] == [("stream", "a\nb\n")]
    assert [o.data["text/plain"] for o in code[2].outputs] == ["'kept'"]
    assert [o.output_type for o in code[3].outputs] == ["display_data"]  # the widget's view only
    assert merged.metadata["language_info"]["name"] == "python"
    state = merged.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    (output_widget,) = [w for w in state.values() if w["model_name"] == "OutputModel"]
    assert output_widget["state"]["outputs"][0]["text"] == "inside the widget\n"


def test_a_failing_notebook_is_not_cached(tmp_path):
    path = _notebook(tmp_path, cells=["1 + 1", "raise ValueError('no')"])
    cache = tmp_path / "cache"
    assert _nbval(path, cache).returncode != 0
    with pytest.raises(KeyError):
        get_cache(str(cache)).match_cache_notebook(nbformat.read(path, as_version=4))


def test_the_book_reads_the_cache_nbval_fills():
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "execute_notebooks: cache" in config
    assert "--nbval-cache _build/.jupyter_cache" in makefile  # where Jupyter Book's cache mode looks
