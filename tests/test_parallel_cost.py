"""labs.parallel_cost: the closed forms against their simulations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.parallel_cost import (Interval, gpipe_bubble_fraction, gpipe_schedule, ring_allreduce,
                                ring_allreduce_bytes, training_energy)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 7), chunk=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_the_ring_sums_and_sends_the_formula_bytes(p, chunk, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(p * chunk,)) for _ in range(p)]
    results, sent = ring_allreduce(arrays)
    for r in results:
        np.testing.assert_allclose(r, np.sum(arrays, axis=0), rtol=1e-12, atol=1e-12)
    assert sent == [ring_allreduce_bytes(p * chunk, 8, p)] * p


def test_the_ring_total_holds_for_uneven_chunks_and_keeps_the_shape():
    arrays = [np.full((3, 7), float(r)) for r in range(5)]
    results, sent = ring_allreduce(arrays)
    assert results[0].shape == (3, 7) and np.all(results[3] == 10.0)
    assert sum(sent) == 5 * ring_allreduce_bytes(21, 8, 5)


def test_ring_bytes_approach_twice_the_vector():
    assert ring_allreduce_bytes(1000, 4, 1) == 0
    assert ring_allreduce_bytes(1000, 4, 2) == 4000
    assert ring_allreduce_bytes(1000, 4, 1000) == pytest.approx(2 * 4000 * 999 / 1000)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 9), m=st.integers(1, 40), tf=st.floats(0.1, 3), tb=st.floats(0.1, 3))
def test_the_gpipe_schedule_has_the_formula_bubble(p, m, tf, tb):
    starts, makespan, bubble = gpipe_schedule(p, m, tf, tb)
    assert makespan == pytest.approx((m + p - 1) * (tf + tb))
    assert bubble == pytest.approx(gpipe_bubble_fraction(p, m), abs=1e-9)
    assert len(starts) == 2 * p * m


def test_bad_pipeline_and_ring_inputs_are_refused():
    with pytest.raises(ValueError, match="stages must be a positive int"):
        gpipe_bubble_fraction(0, 4)
    with pytest.raises(ValueError, match="microbatches"):
        gpipe_schedule(2, 2.5)
    with pytest.raises(ValueError, match="same shape"):
        ring_allreduce([np.zeros(3), np.zeros(4)])
    with pytest.raises(ValueError, match="world_size"):
        ring_allreduce_bytes(10, 4, 0)


def test_intervals_multiply_and_divide_by_their_extremes():
    a, b = Interval(1, 2), Interval(3, 5)
    assert (a * b) == Interval(3, 10) and (a / b) == Interval(0.2, 2 / 3) and 2 * a == Interval(2, 4)
    assert 1.5 in a and 3 not in a and (a * b).ratio == 10 / 3
    with pytest.raises(ValueError, match="0 < low <= high"):
        Interval(2, 1)


def test_energy_of_a_point_estimate_is_the_product_of_its_factors():
    hours, kwh, tonnes = training_energy(3.6e18, 1e12, 0.5, 500, 1.2, 0.4)
    assert hours.low == hours.high == pytest.approx(3.6e18 / 0.5e12 / 3600)
    assert kwh.low == pytest.approx(hours.low * 0.5 * 1.2)
    assert tonnes.high == pytest.approx(kwh.high * 0.4 / 1000)
