"""A small HTTP inference endpoint on the standard library, with optional dynamic batching.

    with InferenceServer(predict, input_shape=(32,), dtype="int", value_range=(0, 96)) as server:
        reply = post_json(server.url + "/predict", {"inputs": [...]})      # {"outputs": [...]}
        result = load_test(server.url + "/predict", make_body, concurrency=8, duration_s=1.0)

``predict`` is any function from a batch (B, *input_shape) NumPy array to a (B, ...) array, for
example an ONNX Runtime session wrapped in a lambda, so this module imports no model library.

- ``POST /predict`` with a JSON body ``{"inputs": <one example of shape input_shape>}`` answers
  ``{"outputs": [...]}``; ``GET /health`` answers ``{"status": "ok"}``.
- A bad request never reaches the model: :func:`validate_request` turns it into a
  :class:`RequestError` with a 4xx status and a sentence saying what was expected (413 body too
  large, 411 no length, 400 not JSON, 422 wrong field, shape, type or range, 404 and 405 for
  paths and methods). A model that raises gives a 500. Either way the server keeps serving.
- **Dynamic batching** (``batching=True``): requests wait up to ``max_wait_ms`` in a queue, one
  thread stacks up to ``max_batch`` of them and calls ``predict`` once. A model call has a fixed
  cost (Python, dispatch, memory traffic for the weights) that a batch pays once.
- The server is a context manager: leaving the ``with`` block stops it and closes its socket,
  even after an exception. ``port=0`` (the default) lets the OS pick a free port; a port in
  use raises ``OSError`` naming the fix.

FastAPI on uvicorn is what many teams would use for the same endpoint; the standard library
keeps the moving parts visible (and needs no package).
"""

from __future__ import annotations

import http.client
import json
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np

__all__ = ["RequestError", "validate_request", "InferenceServer", "post_json", "load_test", "LoadTestResult",
           "latency_percentile"]

DTYPES = {"int": np.int64, "float": np.float32}
DISCARD_LIMIT = 16 * 2 ** 20   # an oversized body up to this size is read and dropped, so the client sees the 413


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx) and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _shape_of(value) -> tuple:
    """The shape of a nested list, or raise if it is ragged or holds something else."""
    if isinstance(value, list):
        if not value:
            return (0,)
        shapes = {_shape_of(v) for v in value}
        if len(shapes) != 1:
            raise RequestError(422, "'inputs' is ragged: every row must have the same length")
        return (len(value),) + shapes.pop()
    return ()


def _scalars(value):
    if isinstance(value, list):
        for v in value:
            yield from _scalars(v)
    else:
        yield value


def validate_request(body: bytes, input_shape: tuple, dtype: str = "float", value_range: tuple | None = None,
                     max_body_bytes: int = 65536) -> np.ndarray:
    """The one example in a ``/predict`` body as an array of ``input_shape``, or a :class:`RequestError`.

    ``dtype`` is ``"int"`` (token ids: JSON integers only, booleans refused) or ``"float"``
    (finite numbers); ``value_range`` ``(low, high)`` bounds the values, ``low <= x < high``.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}; got {dtype!r}")
    if len(body) > max_body_bytes:
        raise RequestError(413, f"the body has {len(body)} bytes; the limit is {max_body_bytes}")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the body is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}); "
                                'send {"inputs": [...]}') from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise RequestError(422, 'expected a JSON object with the field "inputs", e.g. {"inputs": [...]}; '
                                f"got {type(payload).__name__}" + (f" with fields {sorted(payload)}" if isinstance(payload, dict) else ""))
    inputs = payload["inputs"]
    shape = _shape_of(inputs)
    if shape != tuple(input_shape):
        raise RequestError(422, f"'inputs' must have shape {list(input_shape)} (one example); got {list(shape)}")
    for v in _scalars(inputs):
        if dtype == "int" and (isinstance(v, bool) or not isinstance(v, int)):
            raise RequestError(422, f"'inputs' must hold integers (token ids); got {type(v).__name__} {v!r}")
        if dtype == "float" and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise RequestError(422, f"'inputs' must hold finite numbers; got {type(v).__name__} {v!r}")
    array = np.asarray(inputs, dtype=DTYPES[dtype])
    if value_range is not None and array.size:
        low, high = value_range
        if array.min() < low or array.max() >= high:
            raise RequestError(422, f"'inputs' values must lie in [{low}, {high}); got min {array.min()}, max {array.max()}")
    return array


class _Batcher:
    """One thread that turns queued single requests into batched ``predict`` calls."""

    def __init__(self, predict, max_batch: int, max_wait_s: float):
        self.predict, self.max_batch, self.max_wait_s = predict, max_batch, max_wait_s
        self.requests: queue.Queue = queue.Queue()
        self.batch_sizes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def submit(self, x: np.ndarray) -> np.ndarray:
        slot = {"done": threading.Event()}
        self.requests.put((x, slot))
        slot["done"].wait()
        if "error" in slot:
            raise slot["error"]
        return slot["output"]

    def _run(self):
        while not self._stop.is_set():
            try:
                first = self.requests.get(timeout=0.05)
            except queue.Empty:
                continue
            batch, deadline = [first], time.perf_counter() + self.max_wait_s
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    batch.append(self.requests.get(timeout=left))
                except queue.Empty:
                    break
            self.batch_sizes.append(len(batch))
            try:
                outputs = np.asarray(self.predict(np.stack([x for x, _ in batch])))
                if outputs.shape[0] != len(batch):
                    raise RuntimeError(f"predict returned {outputs.shape[0]} rows for a batch of {len(batch)}")
                for (_, slot), out in zip(batch, outputs):
                    slot["output"] = out
            except Exception as exc:  # noqa: BLE001 - the model's error goes back to each waiting request
                for _, slot in batch:
                    slot["error"] = exc
            for _, slot in batch:
                slot["done"].set()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)


class InferenceServer:
    """``with InferenceServer(predict, input_shape=..., ...) as server:`` serves on ``server.url``.

    ``batching=False`` calls ``predict`` on a batch of one per request, in the request's
    thread; ``batching=True`` queues requests for :class:`_Batcher`. ``batch_sizes`` records
    the size of every batched call (for the load test's report).
    """

    def __init__(self, predict, *, input_shape: tuple, dtype: str = "float", value_range: tuple | None = None,
                 host: str = "127.0.0.1", port: int = 0, max_body_bytes: int = 65536, batching: bool = False,
                 max_batch: int = 32, max_wait_ms: float = 2.0):
        if not callable(predict):
            raise TypeError(f"predict must be a function from a (B, ...) array to a (B, ...) array; got {type(predict).__name__}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}; got {dtype!r}")
        if not isinstance(max_batch, int) or max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be an int >= 1 and max_wait_ms >= 0; got {max_batch!r}, {max_wait_ms!r}")
        self.predict, self.input_shape, self.dtype, self.value_range = predict, tuple(input_shape), dtype, value_range
        self.host, self.requested_port, self.max_body_bytes = host, port, max_body_bytes
        self.batching, self.max_batch, self.max_wait_s = batching, max_batch, max_wait_ms / 1000
        self._httpd = self._thread = self._batcher = None
        self.batch_sizes: list[int] = []

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> InferenceServer:
        try:
            self._httpd = ThreadingHTTPServer((self.host, self.requested_port), _make_handler(self))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.requested_port} ({exc.strerror}): another "
                                     "process holds that port; pass port=0 to let the OS pick a free one") from exc
        self._httpd.daemon_threads = True
        if self.batching:
            self._batcher = _Batcher(self.predict, self.max_batch, self.max_wait_s)
            self.batch_sizes = self._batcher.batch_sizes
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="inference-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and release the port (safe to call twice)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running: use it inside `with InferenceServer(...) as server:`")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ one request
    def answer(self, x: np.ndarray) -> list:
        if self._batcher is not None:
            out = self._batcher.submit(x)
        else:
            out = np.asarray(self.predict(x[None]))[0]
        return np.asarray(out).tolist()


def _make_handler(server: InferenceServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive: a client reuses its connection
        timeout = 10                    # an idle connection's thread ends after this

        def log_message(self, *args):   # no line on stderr per request
            pass

        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._reply(status, {"error": message})

        def do_GET(self):
            if self.path == "/health":
                self._reply(200, {"status": "ok"})
            elif self.path == "/predict":
                self._error(405, "use POST /predict with a JSON body {\"inputs\": [...]}")
            else:
                self._error(404, f"no route {self.path}; the routes are POST /predict and GET /health")

        def do_POST(self):
            length = self.headers.get("Content-Length")
            if self.path != "/predict":
                self.close_connection = True
                self._error(404, f"no route {self.path}; the routes are POST /predict and GET /health")
                return
            if length is None or not length.isdigit():
                self.close_connection = True
                self._error(411, "send a Content-Length header (chunked bodies are not accepted)")
                return
            n = int(length)
            if n > server.max_body_bytes:
                self.close_connection = True
                if n <= DISCARD_LIMIT:
                    self.rfile.read(n)   # drain it, so the client is not cut off mid-send and reads the answer
                self._error(413, f"the body has {n} bytes; the limit is {server.max_body_bytes}")
                return
            try:
                x = validate_request(self.rfile.read(n), server.input_shape, server.dtype, server.value_range,
                                     server.max_body_bytes)
            except RequestError as exc:
                self._error(exc.status, exc.message)
                return
            try:
                outputs = server.answer(x)
            except Exception as exc:  # noqa: BLE001 - the model's failure is the server's 500, not a crash
                self._error(500, f"the model failed: {type(exc).__name__}: {exc}")
                return
            self._reply(200, {"outputs": outputs})

    return Handler


# ---------------------------------------------------------------------- client side


def post_json(url: str, payload, timeout: float = 10.0) -> tuple[int, dict]:
    """POST ``payload`` as JSON (bytes are sent as they are); return (status, decoded reply)."""
    parts = urlsplit(url)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path or "/", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def latency_percentile(latencies, q: float) -> float:
    """The nearest-rank q-th percentile: the smallest latency with at least q % of them at or below it.

    No interpolation, so the answer is a latency that was measured (NumPy's
    ``method="inverted_cdf"``). With 100 requests p99 is the second slowest.
    """
    values = np.sort(np.asarray(latencies, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"latency_percentile needs a non-empty 1-D list of latencies; got shape {values.shape}")
    if not 0 < q <= 100:
        raise ValueError(f"q is a percentage in (0, 100]; got {q!r}")
    rank = math.ceil(q / 100 * values.size)
    return float(values[rank - 1])


@dataclass
class LoadTestResult:
    """What :func:`load_test` measured: latencies in seconds, one per successful request."""

    duration_s: float
    concurrency: int
    latencies: list = field(repr=False)
    errors: int

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.requests / self.duration_s

    def percentile(self, q: float) -> float:
        return latency_percentile(self.latencies, q)


def load_test(url: str, make_body, concurrency: int = 8, duration_s: float = 1.0, timeout: float = 10.0) -> LoadTestResult:
    """``concurrency`` clients, each on one keep-alive connection, send requests back to back for
    ``duration_s`` seconds (a closed loop: a client sends its next request when the last is answered).

    ``make_body(i)`` gives the JSON-able payload of request ``i`` of a client. Bounded: no
    request starts after the deadline, and each waits at most ``timeout``.
    """
    if concurrency < 1 or not 0 < duration_s <= 60:
        raise ValueError(f"concurrency >= 1 and 0 < duration_s <= 60; got {concurrency!r}, {duration_s!r}")
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + duration_s

    def client(worker: int):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        mine, bad, i = [], 0, 0
        try:
            while time.perf_counter() < deadline:
                body = json.dumps(make_body(worker * 1_000_003 + i)).encode("utf-8")
                i += 1
                t0 = time.perf_counter()
                try:
                    conn.request("POST", parts.path, body=body, headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    response.read()
                    if response.status == 200:
                        mine.append(time.perf_counter() - t0)
                    else:
                        bad += 1
                except (OSError, http.client.HTTPException):
                    bad += 1
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                errors[0] += bad

    threads = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration_s + timeout + 5)
    return LoadTestResult(time.perf_counter() - start, concurrency, latencies, errors[0])
