"""Chapter 13 graders: each accepts a right answer, rejects the usual wrong ones with a
useful hint, and lets a stub's NotImplementedError through."""

from __future__ import annotations

import re

import pytest

from labs.check import ExerciseFailed, ch13

jnp = pytest.importorskip("jax.numpy", reason="Exercise 13.1 is written in JAX (pip install 'labs[jax]')")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise 13.x: not yet")


@pytest.mark.parametrize("grader", [ch13.jax_cross_entropy, ch13.arxiv_id_ok, ch13.count_works, ch13.isbn13_check_digit])
def test_a_stub_passes_through(grader):
    with pytest.raises(NotImplementedError, match="Exercise 13.x"):
        grader(stub)


def ce_right(logits, y):
    logits = jnp.asarray(logits)
    log_probs = jax.nn.log_softmax(logits, axis=1)
    return -jnp.mean(log_probs[jnp.arange(len(y)), jnp.asarray(y)])


def ce_naive(logits, y):
    logits = jnp.asarray(logits)
    probs = jnp.exp(logits) / jnp.exp(logits).sum(axis=1, keepdims=True)
    return -jnp.mean(jnp.log(probs[jnp.arange(len(y)), jnp.asarray(y)]))


def ce_sum(logits, y):
    return ce_right(logits, y) * len(y)


def test_cross_entropy(capsys):
    ch13.jax_cross_entropy(ce_right)
    assert "Exercise 13.1 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="overflows"):
        ch13.jax_cross_entropy(ce_naive)
    with pytest.raises(ExerciseFailed, match="sum over the batch"):
        ch13.jax_cross_entropy(ce_sum)


def arxiv_right(identifier, year):
    m = re.fullmatch(r"(\d{2})(\d{2})\.(\d{4,5})(v\d+)?", identifier)
    if not m or not 1 <= int(m[2]) <= 12 or int(m[1]) < 7 or (len(m[3]) == 5) != (int(m[1]) >= 15):
        return False
    return year is None or 2000 + int(m[1]) <= year + 1


def test_arxiv(capsys):
    ch13.arxiv_id_ok(arxiv_right)
    assert "Exercise 13.2 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="cannot belong to a work published"):
        ch13.arxiv_id_ok(lambda i, y: arxiv_right(i, None))
    with pytest.raises(ExerciseFailed, match="is not one"):
        ch13.arxiv_id_ok(lambda i, y: bool(re.fullmatch(r"\d{4}\.\d{4,5}(v\d+)?", i)))
    with pytest.raises(ExerciseFailed):
        ch13.arxiv_id_ok(lambda i, y: 1 if arxiv_right(i, y) else 0)  # not a bool


def test_count_works(capsys):
    ch13.count_works(lambda entries: len({re.sub(r"[^a-z0-9]", "", t.lower()) for _, t in entries}))
    assert "Exercise 13.3 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="normalise first"):
        ch13.count_works(lambda entries: len({t for _, t in entries}))
    with pytest.raises(ExerciseFailed, match="not entries"):
        ch13.count_works(lambda entries: len(entries))


def isbn_right(first12):
    return (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12)) % 10) % 10


def test_isbn(capsys):
    ch13.isbn13_check_digit(isbn_right)
    assert "Exercise 13.4 passed" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="not 10"):
        ch13.isbn13_check_digit(lambda s: 10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(s)) % 10)
    with pytest.raises(ExerciseFailed, match="weights start with 1"):
        ch13.isbn13_check_digit(lambda s: (10 - sum(int(d) * (1 if i % 2 else 3) for i, d in enumerate(s)) % 10) % 10)
    with pytest.raises(ExerciseFailed):
        ch13.isbn13_check_digit(lambda s: str(isbn_right(s)))
