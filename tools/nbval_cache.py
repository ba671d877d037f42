"""A pytest plugin: nbval's run of each notebook also fills the book's execution cache.

`make test` used to execute every notebook twice: once under nbval (`make notebooks`), then
again when Jupyter Book built the pages. With ``--nbval-cache DIR`` (the Makefile passes
``_build/.jupyter_cache``, where Jupyter Book's ``execute_notebooks: cache`` looks), each
notebook whose cells all passed is stored there, with the outputs nbval's kernel produced,
so the book build finds it in the cache and does not run it again. A notebook that failed,
was skipped in part, or changed since is simply not matched, and the book executes it itself.

nbval keeps what it needs to test a cell and drops the rest (widget messages, clear_output),
so the outputs are rebuilt here from the kernel's messages the way nbclient, the book's
executor, builds them: streams merged, ``clear_output`` honoured, what an ipywidgets
``Output`` widget captures kept in the widget's state instead of the cell, the widget state
and the kernel's ``language_info`` in the notebook's metadata.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def pytest_addoption(parser):
    parser.addoption("--nbval-cache", metavar="DIR", default=None,
                     help="store every notebook nbval ran without a failure in this jupyter-cache folder")


def pytest_configure(config):
    folder = config.getoption("nbval_cache")
    if folder is None or not config.pluginmanager.hasplugin("nbval"):
        return
    from nbval.kernel import RunningKernel

    _record_messages(RunningKernel)
    config.pluginmanager.register(_CacheWriter(Path(folder).resolve()), "labs-nbval-cache")


def _record_messages(kernel_class):
    """Wrap nbval's kernel so that it keeps every execute request and iopub message, in order."""
    if getattr(kernel_class, "_labs_recording", False):
        return
    get_message = kernel_class.get_message

    def execute_cell_input(self, cell_input, allow_stdin=None):
        # As nbclient (and Jupyter) run a cell: with history, so that execution counts go up
        # and a trailing `;` hides the cell's value (IPython reads it back from the history);
        # nbval's own call passes store_history=False, and its outputs would differ from the book's.
        msg_id = self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)
        self.__dict__.setdefault("labs_requests", []).append(msg_id)
        return msg_id

    def recording_get_message(self, stream, timeout=None):
        msg = get_message(self, stream, timeout=timeout)
        if stream == "iopub":
            self.__dict__.setdefault("labs_iopub", []).append(msg)
        return msg

    kernel_class.execute_cell_input = execute_cell_input
    kernel_class.get_message = recording_get_message
    kernel_class._labs_recording = True


class _CacheWriter:
    def __init__(self, folder: Path):
        self.folder = folder
        self.failed: set[str] = set()
        self.started: dict[str, float] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report):
        if report.failed or report.skipped:
            self.failed.add(report.fspath)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        self.started.setdefault(str(item.fspath), time.perf_counter())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        # the notebook's last cell, while its kernel still runs (nbval stops it right after)
        from nbval.plugin import IPyNbCell

        if not isinstance(item, IPyNbCell) or (nextitem is not None and nextitem.parent is item.parent):
            return
        notebook = item.parent
        if notebook.nodeid in self.failed or str(notebook.fspath) in self.failed or notebook.kernel is None:
            return
        executed = executed_notebook(notebook)
        if executed is not None:
            seconds = time.perf_counter() - self.started.get(str(item.fspath), time.perf_counter())
            store(self.folder, executed, str(notebook.fspath), seconds)


def executed_notebook(notebook):
    """nbval's notebook with the outputs its kernel produced, or None if a cell did not run."""
    import copy

    kernel = notebook.kernel
    requests = kernel.__dict__.get("labs_requests", [])
    code_cells = [c for c in notebook.nb.cells if c.cell_type == "code"]
    if len(requests) != len(code_cells) or not kernel.is_alive():
        return None
    by_parent = defaultdict(list)
    for msg in kernel.__dict__.get("labs_iopub", []):
        by_parent[msg["parent_header"].get("msg_id")].append(msg)
    nb = copy.deepcopy(notebook.nb)
    widgets = _Widgets()
    for cell, msg_id in zip((c for c in nb.cells if c.cell_type == "code"), requests):
        cell.outputs, cell.execution_count = widgets.cell_outputs(by_parent[msg_id], msg_id)
    reply = kernel.kc.kernel_info(reply=True, timeout=30)
    nb.metadata["language_info"] = reply["content"]["language_info"]
    if widgets.state:
        nb.metadata["widgets"] = {WIDGET_STATE: {"state": widgets.serialized(), "version_major": 2, "version_minor": 0}}
    return nb


class _Widgets:
    """The part of nbclient's front end that decides where an output goes, and the widget state."""

    def __init__(self):
        self.state: dict[str, dict] = {}
        self.output_models: set[str] = set()
        self.capturing: dict[str, list[str]] = defaultdict(list)  # msg_id -> Output widgets capturing it

    def cell_outputs(self, messages, msg_id):
        from nbformat.v4 import output_from_msg

        outputs, clear_on_next, count = [], False, None
        for msg in messages:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "execute_input":
                count = content.get("execution_count")
            elif kind in ("comm_open", "comm_msg"):
                self._comm(kind, content)
            elif kind in ("clear_output", "stream", "display_data", "execute_result", "error") and self.capturing[msg_id]:
                # an Output widget holds it, in its own state (as nbclient's OutputWidget does)
                widget = self.state[self.capturing[msg_id][-1]]
                widget["outputs"] = [] if kind == "clear_output" else widget.get("outputs", []) + [output_from_msg(msg)]
            elif kind == "clear_output":
                if content.get("wait"):
                    clear_on_next = True
                else:
                    outputs = []
            elif kind in ("stream", "display_data", "execute_result", "error"):
                if clear_on_next:
                    outputs, clear_on_next = [], False
                out = output_from_msg(msg)
                if kind == "stream" and outputs and outputs[-1].output_type == "stream" and outputs[-1].name == out.name:
                    outputs[-1].text += out.text
                else:
                    outputs.append(out)
        return outputs, count

    def _comm(self, kind, content):
        data = content.get("data", {})
        comm_id = content["comm_id"]
        if kind == "comm_open" and content.get("target_name") != "jupyter.widget":
            return
        if kind == "comm_msg" and (comm_id not in self.state or data.get("method") != "update"):
            return
        state = data.get("state", {})
        self.state.setdefault(comm_id, {}).update(state)
        if self.state[comm_id].get("_model_name") == "OutputModel":
            self.output_models.add(comm_id)
        if comm_id in self.output_models and "msg_id" in state:
            # an Output widget starts (msg_id set) or stops (msg_id "") capturing a request's outputs
            for captured in self.capturing.values():
                if comm_id in captured:
                    captured.remove(comm_id)
            if state["msg_id"]:
                self.capturing[state["msg_id"]].append(comm_id)

    def serialized(self):
        return {comm_id: {"model_name": s.get("_model_name"), "model_module": s.get("_model_module"),
                          "model_module_version": s.get("_model_module_version"), "state": s}
                for comm_id, s in self.state.items()}


def store(folder: Path, nb, uri: str, seconds: float, attempts: int = 5) -> None:
    """Add the executed notebook to the jupyter-cache in ``folder`` (two xdist workers may write at once)."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from sqlalchemy.exc import OperationalError

    for attempt in range(attempts):
        try:
            get_cache(str(folder)).cache_notebook_bundle(
                CacheBundleIn(nb, uri, data={"execution_seconds": seconds}), check_validity=False, overwrite=True)
            return
        except OperationalError as err:  # sqlite's "database is locked", the other worker writing: retried
            if attempt == attempts - 1:
                raise RuntimeError(f"could not add {uri} to the notebook cache in {folder}: {err}") from err
            time.sleep(0.5 * (attempt + 1))
