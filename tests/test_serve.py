"""The inference endpoint: right answers, 4xx for every kind of bad request (and it keeps serving),
batching that returns each request its own row, a released port, and nearest-rank percentiles."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from labs.serve import InferenceServer, RequestError, latency_percentile, load_test, post_json, validate_request

T, V = 6, 10
W = np.random.default_rng(0).normal(size=(T, V)).astype(np.float32)


def predict(ids):
    """A stand-in model: one row of scores per example, depending on every token."""
    assert ids.ndim == 2 and ids.shape[1] == T
    return np.tanh(ids.astype(np.float32) @ W)


def server(**kwargs):
    return InferenceServer(predict, input_shape=(T,), dtype="int", value_range=(0, V), max_body_bytes=2048, **kwargs)


def good(i=0):
    return {"inputs": [(i + k) % V for k in range(T)]}


def expected(i=0):
    return predict(np.array([good(i)["inputs"]]))[0]


def raw_request(port, data: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_good_request_gets_the_model_output():
    with server() as srv:
        status, reply = post_json(srv.url + "/predict", good(3))
        assert status == 200
        np.testing.assert_allclose(reply["outputs"], expected(3), rtol=1e-6)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/health")
        assert json.loads(conn.getresponse().read()) == {"status": "ok"}
        conn.close()


BAD = [
    (json.dumps({"inputs": [1, 2, 3]}).encode(), 422, "shape \\[6\\]"),
    (json.dumps({"inputs": [[1] * T]}).encode(), 422, "shape \\[6\\]"),
    (json.dumps({"inputs": [1.5] * T}).encode(), 422, "integers"),
    (json.dumps({"inputs": ["a"] * T}).encode(), 422, "integers"),
    (json.dumps({"inputs": [True] * T}).encode(), 422, "integers"),
    (json.dumps({"inputs": [1, 2, 3, 4, 5, 99]}).encode(), 422, "\\[0, 10\\)"),
    (json.dumps({"inputs": [[1, 2], [3]]}).encode(), 422, "ragged"),
    (json.dumps({"x": [1] * T}).encode(), 422, '"inputs"'),
    (json.dumps([1] * T).encode(), 422, '"inputs"'),
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (json.dumps({"inputs": [1] * 5000}).encode(), 413, "limit is 2048"),
]


@pytest.mark.parametrize("body, status, message", BAD)
def test_bad_requests_get_a_4xx_and_the_server_keeps_serving(body, status, message):
    with server() as srv:
        got, reply = post_json(srv.url + "/predict", body)
        assert got == status
        assert re.search(message, reply["error"]), reply
        ok, reply = post_json(srv.url + "/predict", good(1))   # the next client is served
        assert ok == 200
        np.testing.assert_allclose(reply["outputs"], expected(1), rtol=1e-6)


def test_validator_alone():
    x = validate_request(json.dumps(good(2)).encode(), (T,), "int", (0, V))
    assert x.dtype == np.int64 and x.tolist() == good(2)["inputs"]
    with pytest.raises(RequestError) as info:
        validate_request(json.dumps({"inputs": [float("nan")] * 2}).encode(), (2,), "float")
    assert info.value.status == 422
    with pytest.raises(ValueError, match="dtype"):
        validate_request(b"{}", (2,), "complex")


def test_protocol_errors_paths_and_methods():
    with server() as srv:
        status, reply = raw_request(srv.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert status == 411 and "Content-Length" in reply["error"]
        assert post_json(srv.url + "/nowhere", good())[0] == 404
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/predict")
        response = conn.getresponse()
        assert response.status == 405 and "POST" in json.loads(response.read())["error"]
        conn.close()
        assert post_json(srv.url + "/predict", good())[0] == 200


def test_a_failing_model_is_a_500_not_a_crash():
    calls = []

    def flaky(ids):
        calls.append(len(ids))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return predict(ids)

    with InferenceServer(flaky, input_shape=(T,), dtype="int") as srv:
        status, reply = post_json(srv.url + "/predict", good())
        assert status == 500 and "out of memory" in reply["error"]
        assert post_json(srv.url + "/predict", good())[0] == 200


def test_batching_gives_every_request_its_own_row():
    results = {}
    with server(batching=True, max_batch=8, max_wait_ms=20) as srv:
        def one(i):
            results[i] = post_json(srv.url + "/predict", good(i))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sizes = list(srv.batch_sizes)
    for i, (status, reply) in results.items():
        assert status == 200
        np.testing.assert_allclose(reply["outputs"], expected(i), rtol=1e-6)
    assert sum(sizes) == 16 and max(sizes) > 1 and max(sizes) <= 8


def test_load_test_is_bounded_and_counts_requests():
    with server(batching=True, max_wait_ms=2) as srv:
        result = load_test(srv.url + "/predict", lambda i: good(i), concurrency=4, duration_s=0.3)
    assert result.errors == 0 and result.requests > 0
    assert 0.3 <= result.duration_s < 15          # no request starts after the deadline; each waits at most 10 s
    assert result.percentile(50) <= result.percentile(99) <= max(result.latencies)


def test_the_port_is_released_and_a_busy_port_is_a_clear_error():
    with server() as srv:
        port = srv.port
        with pytest.raises(OSError, match="port=0"):
            with server(port=port):
                pass
        assert post_json(srv.url + "/predict", good())[0] == 200   # the first one is unharmed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(RuntimeError, match="not running"):
        _ = srv.port


def test_the_server_stops_after_an_exception_in_the_block():
    with pytest.raises(KeyError):
        with server() as srv:
            port = srv.port
            raise KeyError("boom")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=300), st.floats(0.5, 100))
def test_nearest_rank_percentile_matches_numpy(latencies, q):
    assert latency_percentile(latencies, q) == np.percentile(latencies, q, method="inverted_cdf")


def test_p99_of_a_hundred_is_the_second_slowest():
    assert latency_percentile(list(range(1, 101)), 99) == 99
    with pytest.raises(ValueError, match="non-empty"):
        latency_percentile([], 50)
