"""The prefill lane's share of the time: after a slice, decode steps are owed the rest."""

import time
from types import SimpleNamespace
from typing import Any

import mlx.core as mx

from pensieve_mlx.prefill import Prefill, PrefillLane


class _SlowModel:
    """Takes at least ``seconds`` per forward pass, like a chunk of a long prompt."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, tokens: mx.array, cache: list[Any]) -> mx.array:
        time.sleep(self.seconds)
        return tokens


def _prefill() -> Prefill:
    job: Any = SimpleNamespace(prompt=SimpleNamespace(tokens=list(range(4096))), max_tokens=64)
    return Prefill(job, [SimpleNamespace(state=mx.zeros((1,)))], 0)


def test_after_a_slice_the_decode_steps_are_owed_the_rest_of_the_time() -> None:
    lane = PrefillLane(_SlowModel(0.05), max_chunk=64, slice_s=0.25, short_tokens=16, share=0.5)
    prefill = _prefill()
    assert lane.due()  # nothing owed before the first slice
    lane.advance(prefill, limit=prefill.end)
    assert prefill.position == 64
    assert not lane.due()  # the slice took at least 0.05 s: as much is owed to decoding
    lane.decoded(0.03)
    assert not lane.due()
    lane.decoded(0.03)
    assert lane.due()


def test_a_smaller_share_owes_more_and_the_whole_share_owes_nothing() -> None:
    whole = PrefillLane(_SlowModel(0.02), max_chunk=64, slice_s=0.25, short_tokens=16, share=1.0)
    whole.advance(_prefill(), limit=4095)
    assert whole.due()  # a slice after every step
    quarter = PrefillLane(_SlowModel(0.02), max_chunk=64, slice_s=0.25, short_tokens=16, share=0.25)
    quarter.advance(_prefill(), limit=4095)
    quarter.decoded(0.02 * 2.5)  # three times the slice is owed: 2.5 times is not enough
    assert not quarter.due()
    quarter.decoded(1.0)
    assert quarter.due()
