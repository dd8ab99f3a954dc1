"""Unit tests of ``daramjwee._generations`` (rules G1-G7: a late writer never overwrites a newer set or
resurrects a deleted key)."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daramjwee._generations import Generations, Ticket


def delete(generations: Generations, key: str) -> None:
    """A delete of ``key`` that runs and ends at once."""
    generations.begin_delete(key)
    generations.end_delete(key)


# --- fills (non-replacing writes) -----------------------------------------------------------------


def test_fill_alone_may_publish() -> None:
    generations = Generations()
    fill = generations.begin("k")
    assert not fill.replaces
    assert generations.may_publish(fill)


def test_fill_begun_before_a_delete_cannot_publish() -> None:
    generations = Generations()
    fill = generations.begin("k")
    delete(generations, "k")
    assert not generations.may_publish(fill)


def test_fill_begun_before_a_newer_set_cannot_publish_even_before_the_set_publishes() -> None:
    generations = Generations()
    fill = generations.begin("k")
    generations.begin("k", replaces=True)
    assert not generations.may_publish(fill)


def test_fill_begun_before_a_set_that_was_aborted_still_cannot_publish() -> None:
    generations = Generations()
    fill = generations.begin("k")
    aborted_set = generations.begin("k", replaces=True)
    generations.end(aborted_set)
    assert not generations.may_publish(fill)


def test_fill_begun_after_a_delete_may_publish() -> None:
    generations = Generations()
    older = generations.begin("k")
    delete(generations, "k")
    newer = generations.begin("k")
    assert not generations.may_publish(older)
    assert generations.may_publish(newer)


def test_fill_begun_after_a_set_began_cannot_publish_over_the_unpublished_set() -> None:
    """A fill that starts while a set is in flight may read the old value; the set must still win."""
    generations = Generations()
    set_ticket = generations.begin("k", replaces=True)
    fill = generations.begin("k")
    assert generations.may_publish(fill)  # no barrier after it yet ...
    generations.published(set_ticket)
    assert not generations.may_publish(fill)  # ... but once the set publishes, the fill is too old


def test_overlapping_fills_may_all_publish() -> None:
    generations = Generations()
    fills = [generations.begin("k") for _ in range(5)]
    assert all(generations.may_publish(fill) for fill in fills)


def test_published_fill_hands_its_place_to_a_follow_up_of_the_same_number() -> None:
    generations = Generations()
    fill = generations.begin("k")
    follow_up = generations.published(fill)
    assert (follow_up.number, follow_up.follow_up, fill.ended) == (fill.number, True, True)
    assert generations.may_publish(follow_up)
    follow_up.end()
    assert len(generations) == 0


def test_fill_follow_up_is_stopped_by_a_later_delete() -> None:
    generations = Generations()
    follow_up = generations.published(generations.begin("k"))
    delete(generations, "k")
    assert not generations.may_publish(follow_up)


# --- sets (replacing writes) ---------------------------------------------------------------------


def test_set_alone_may_publish() -> None:
    generations = Generations()
    set_ticket = generations.begin("k", replaces=True)
    assert set_ticket.replaces
    assert generations.may_publish(set_ticket)


def test_set_cannot_publish_once_a_later_set_began() -> None:
    generations = Generations()
    first = generations.begin("k", replaces=True)
    second = generations.begin("k", replaces=True)
    assert not generations.may_publish(first)
    assert generations.may_publish(second)


def test_last_of_many_overlapping_sets_wins() -> None:
    generations = Generations()
    sets = [generations.begin("k", replaces=True) for _ in range(6)]
    assert [generations.may_publish(ticket) for ticket in sets] == [False] * 5 + [True]


def test_set_cannot_publish_after_a_delete() -> None:
    generations = Generations()
    set_ticket = generations.begin("k", replaces=True)
    delete(generations, "k")
    assert not generations.may_publish(set_ticket)


def test_set_is_not_blocked_by_fills_begun_after_it() -> None:
    generations = Generations()
    set_ticket = generations.begin("k", replaces=True)
    generations.begin("k")
    generations.begin("k")
    assert generations.may_publish(set_ticket)


def test_set_cannot_publish_twice() -> None:
    generations = Generations()
    set_ticket = generations.begin("k", replaces=True)
    generations.published(set_ticket)
    assert not generations.may_publish(set_ticket)


# --- after a set publishes --------------------------------------------------------------------------


def test_published_set_returns_a_non_replacing_follow_up_that_may_publish() -> None:
    generations = Generations()
    set_ticket = generations.begin("k", replaces=True)
    follow_up = generations.published(set_ticket)
    assert follow_up is not set_ticket
    assert follow_up.key == "k"
    assert not follow_up.replaces
    assert follow_up.number > set_ticket.number
    assert generations.may_publish(follow_up)


def test_follow_up_may_publish_alongside_later_fills() -> None:
    generations = Generations()
    follow_up = generations.published(generations.begin("k", replaces=True))
    later_fill = generations.begin("k")
    assert generations.may_publish(follow_up)
    assert generations.may_publish(later_fill)


def test_follow_up_may_publish_while_the_next_set_is_open_but_not_after_it_publishes() -> None:
    generations = Generations()
    follow_up = generations.published(generations.begin("k", replaces=True))
    next_set = generations.begin("k", replaces=True)
    assert generations.may_publish(follow_up), "the next set has changed nothing yet"
    assert generations.may_publish(next_set)
    generations.published(next_set)
    assert not generations.may_publish(follow_up)


def test_a_set_that_began_and_aborted_does_not_fence_the_copy_of_the_value_it_did_not_replace() -> None:
    """Found by the concurrency model check: the lower tiers kept a value older than tier 0's."""
    generations = Generations()
    follow_up = generations.published(generations.begin("k", replaces=True))
    aborted = generations.begin("k", replaces=True)
    aborted.end()
    assert generations.may_publish(follow_up)


def test_a_fill_follow_up_is_fenced_by_a_set_that_publishes_after_the_fill() -> None:
    generations = Generations()
    fill = generations.begin("k")
    follow_up = generations.published(fill)
    assert follow_up.follow_up
    a_set = generations.begin("k", replaces=True)
    assert generations.may_publish(follow_up)
    generations.published(a_set)
    assert not generations.may_publish(follow_up)


def test_no_write_derived_from_a_read_publishes_while_a_delete_runs_nor_after_if_begun_meanwhile() -> None:
    """Found by the concurrency model check: a read overlapping a delete wrote the deleted value back."""
    generations = Generations()
    generations.begin_delete("k")
    during = generations.begin("k")
    follow_up = generations.published(generations.begin("k"))
    assert not generations.may_publish(during)
    assert not generations.may_publish(follow_up)
    generations.end_delete("k")
    assert not generations.may_publish(during), "begun before the delete ended"
    assert not generations.may_publish(follow_up)
    after = generations.begin("k")
    assert generations.may_publish(after)


def test_a_set_begun_while_a_delete_runs_is_not_held_back() -> None:
    """A set carries new data: it wins over a delete that began before it (the last begun wins)."""
    generations = Generations()
    generations.begin_delete("k")
    a_set = generations.begin("k", replaces=True)
    assert generations.may_publish(a_set)
    generations.end_delete("k")
    assert generations.may_publish(a_set)
    follow_up = generations.published(a_set)
    assert generations.may_publish(follow_up)


def test_a_set_begun_before_a_delete_is_fenced_by_it() -> None:
    generations = Generations()
    a_set = generations.begin("k", replaces=True)
    delete(generations, "k")
    assert not generations.may_publish(a_set)


def test_overlapping_deletes_block_publishing_until_the_last_ends() -> None:
    generations = Generations()
    generations.begin_delete("k")
    generations.begin_delete("k")
    generations.end_delete("k")
    later = generations.begin("k")
    assert not generations.may_publish(later)
    generations.end_delete("k")
    assert not generations.may_publish(later)
    assert generations.may_publish(generations.begin("k"))


def test_follow_up_cannot_publish_after_a_delete() -> None:
    generations = Generations()
    follow_up = generations.published(generations.begin("k", replaces=True))
    delete(generations, "k")
    assert not generations.may_publish(follow_up)


def test_writes_begun_before_the_set_published_cannot_publish_after_it() -> None:
    generations = Generations()
    before_set = generations.begin("k")
    set_ticket = generations.begin("k", replaces=True)
    during_set = generations.begin("k")
    generations.published(set_ticket)
    assert not generations.may_publish(before_set)
    assert not generations.may_publish(during_set)


def test_writes_begun_after_the_set_published_may_publish() -> None:
    generations = Generations()
    follow_up = generations.published(generations.begin("k", replaces=True))
    fill = generations.begin("k")
    assert generations.may_publish(fill)
    generations.end(fill)
    assert generations.may_publish(follow_up)


def test_set_begun_between_an_earlier_sets_commit_and_its_published_call_still_wins() -> None:
    generations = Generations()
    first = generations.begin("k", replaces=True)
    assert generations.may_publish(first)  # the cache checks this and commits under the key lock ...
    second = generations.begin("k", replaces=True)  # ... then another thread begins a set (no key lock) ...
    generations.published(first)  # ... and only then does the first writer record its publish
    assert generations.may_publish(second)


# --- keys are independent ---------------------------------------------------------------------------


def test_keys_are_independent() -> None:
    generations = Generations()
    fill_a = generations.begin("a")
    set_a = generations.begin("a", replaces=True)
    fill_b = generations.begin("b")
    set_b = generations.begin("b", replaces=True)
    delete(generations, "c")
    delete(generations, "a")
    assert not generations.may_publish(fill_a)
    assert not generations.may_publish(set_a)
    assert not generations.may_publish(fill_b)
    assert generations.may_publish(set_b)
    assert generations.may_publish(generations.published(set_b))


# --- table size -------------------------------------------------------------------------------------


def test_new_table_is_empty() -> None:
    assert len(Generations()) == 0


def test_len_counts_keys_with_writes_in_flight() -> None:
    generations = Generations()
    tickets = [generations.begin("a"), generations.begin("a", replaces=True), generations.begin("b")]
    assert len(generations) == 2
    generations.end(tickets[0])
    assert len(generations) == 2
    generations.end(tickets[1])
    assert len(generations) == 1
    generations.end(tickets[2])
    assert len(generations) == 0


def test_delete_of_a_key_without_writes_in_flight_adds_nothing() -> None:
    generations = Generations()
    for index in range(100):
        delete(generations, f"k{index}")
    assert len(generations) == 0


def test_table_shrinks_to_empty_after_every_ticket_ended() -> None:
    generations = Generations()
    tickets: list[Ticket] = []
    for index in range(50):
        key = f"k{index % 7}"
        tickets.append(generations.begin(key, replaces=index % 3 == 0))
        if index % 5 == 0:
            delete(generations, key)
    tickets = [generations.published(ticket) if ticket.replaces else ticket for ticket in tickets]
    assert len(generations) == 7
    for ticket in tickets:
        generations.end(ticket)
    assert len(generations) == 0


def test_no_per_key_state_is_left_behind_after_every_ticket_ended() -> None:
    generations = Generations()
    for index in range(20):
        key = f"k{index}"
        fill = generations.begin(key)
        set_ticket = generations.begin(key, replaces=True)
        delete(generations, key)
        generations.end(fill)
        generations.end(set_ticket)
        generations.end(generations.published(generations.begin(key, replaces=True)))
    tables = [value for value in vars(generations).values() if isinstance(value, dict)]
    assert tables  # the check below must look at something
    assert all(not table for table in tables)


def test_follow_up_keeps_the_writes_place_in_flight() -> None:
    generations = Generations()
    follow_up = generations.published(generations.begin("k", replaces=True))
    assert len(generations) == 1
    generations.end(follow_up)
    assert len(generations) == 0


def test_history_is_forgotten_once_nothing_is_in_flight() -> None:
    generations = Generations()
    generations.end(generations.begin("k", replaces=True))
    ticket = generations.begin("k")
    delete(generations, "k")
    generations.end(ticket)
    fill = generations.begin("k")
    set_ticket = generations.begin("k", replaces=True)
    assert generations.may_publish(set_ticket)
    assert not generations.may_publish(fill)


def test_ticket_numbers_grow_and_repr_names_the_ticket() -> None:
    generations = Generations()
    numbers = [generations.begin("k", replaces=index % 2 == 0).number for index in range(10)]
    assert numbers == sorted(set(numbers))
    ticket = generations.begin("key", replaces=True)
    assert repr(ticket) == f"Ticket('key', {ticket.number}, replaces=True)"


def test_concurrent_begin_and_end_leave_an_empty_table_and_unique_numbers() -> None:
    generations = Generations()
    numbers: list[int] = []
    numbers_lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(worker_id: int) -> None:
        barrier.wait()
        mine: list[int] = []
        for index in range(2000):
            key = f"k{(worker_id + index) % 3}"
            ticket = generations.begin(key, replaces=index % 4 == 0)
            if index % 7 == 0:
                delete(generations, key)
            if ticket.replaces and generations.may_publish(ticket):
                ticket = generations.published(ticket)
            mine.append(ticket.number)
            generations.end(ticket)
        with numbers_lock:
            numbers.extend(mine)

    threads = [threading.Thread(target=worker, args=(worker_id,)) for worker_id in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(generations) == 0
    assert len(numbers) == len(set(numbers)) == 8 * 2000


# --- property test against a reference model ----------------------------------------------------------


@dataclasses.dataclass
class _Write:
    ticket: Ticket
    start: int  # model time at which the write's current ticket began


class _Model:
    """Rules G2, G3, G5 and G6 stated directly over a history of events.

    A write may publish iff no ``set`` began, no ``delete`` happened and no ``set`` published for its key
    after its ticket began (a set's own begin does not count against it).  A follow-up (the copy of a
    published value to the lower tiers) may publish iff no ``delete`` happened and no ``set`` published
    after it began: a set that only began changed nothing.
    """

    def __init__(self) -> None:
        self.time = 0
        self.events: dict[str, list[int]] = {}  # key -> times of set-begin / delete / set-publish
        self.changes: dict[str, list[int]] = {}  # key -> times of delete / set-publish

    def tick(self) -> int:
        self.time += 1
        return self.time

    def barrier(self, key: str, *, changes: bool) -> None:
        time = self.tick()
        self.events.setdefault(key, []).append(time)
        if changes:
            self.changes.setdefault(key, []).append(time)

    def may_publish(self, key: str, start: int, follow_up: bool) -> bool:
        events = self.changes if follow_up else self.events
        return all(time <= start for time in events.get(key, []))


_KEYS = ("a", "b")
_OPS = st.one_of(
    st.tuples(st.just("fill"), st.sampled_from(_KEYS)),
    st.tuples(st.just("set"), st.sampled_from(_KEYS)),
    st.tuples(st.just("delete"), st.sampled_from(_KEYS)),
    st.tuples(st.just("publish"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("end"), st.integers(min_value=0, max_value=20)),
)


@settings(max_examples=400)
@given(ops=st.lists(_OPS, max_size=60))
def test_random_interleavings_follow_the_reference_model(ops: list[tuple[str, object]]) -> None:
    generations = Generations()
    model = _Model()
    writes: list[_Write] = []

    def check() -> None:
        for write in writes:
            expected = model.may_publish(write.ticket.key, write.start, write.ticket.follow_up)
            assert generations.may_publish(write.ticket) is expected, (write, model.events)
        assert len(generations) == len({write.ticket.key for write in writes})

    for op, arg in ops:
        if op in ("fill", "set"):
            assert isinstance(arg, str)
            replaces = op == "set"
            if replaces:
                model.barrier(arg, changes=False)
                start = model.time
            else:
                start = model.tick()
            writes.append(_Write(generations.begin(arg, replaces=replaces), start))
        elif op == "delete":
            assert isinstance(arg, str)
            model.barrier(arg, changes=True)
            delete(generations, arg)
        elif writes:
            assert isinstance(arg, int)
            write = writes[arg % len(writes)]
            if op == "end":
                writes.remove(write)
                generations.end(write.ticket)
            elif model.may_publish(write.ticket.key, write.start, write.ticket.follow_up):  # check and publish
                assert generations.may_publish(write.ticket)
                if write.ticket.replaces:
                    model.barrier(write.ticket.key, changes=True)
                    write.start = model.tick()
                write.ticket = generations.published(write.ticket)
        check()

    for write in writes:
        generations.end(write.ticket)
    assert len(generations) == 0


# --- ownership: every ticket ends exactly once ---------------------------------------------------------


def test_ending_a_ticket_twice_frees_its_place_once() -> None:
    generations = Generations()
    first = generations.begin("k")
    second = generations.begin("k")
    delete(generations, "k")
    first.end()
    first.end()  # a second end must not free the place still held by ``second``
    assert len(generations) == 1
    assert not generations.may_publish(second)
    second.end()
    assert len(generations) == 0


def test_hand_off_moves_the_place_to_a_new_ticket() -> None:
    generations = Generations()
    ticket = generations.begin("k")
    moved = ticket.hand_off()
    assert ticket.ended
    assert not moved.ended
    ticket.end()  # the old owner's ``finally`` is harmless
    assert len(generations) == 1
    assert generations.may_publish(moved)
    moved.end()
    assert len(generations) == 0


def test_a_ticket_cannot_be_handed_off_after_it_ended() -> None:
    generations = Generations()
    ticket = generations.begin("k")
    ticket.end()
    with pytest.raises(RuntimeError, match="already ended"):
        ticket.hand_off()


# --- clear (rule G8: a delete of every key at once) ----------------------------------------------


def test_clear_fences_every_write_begun_before_it_sets_included() -> None:
    generations = Generations()
    fill, other, set_ = generations.begin("a"), generations.begin("b"), generations.begin("c", replaces=True)
    generations.begin_clear()
    generations.end_clear()
    assert not any(generations.may_publish(ticket) for ticket in (fill, other, set_))


def test_while_a_clear_runs_no_derived_write_publishes_and_those_begun_meanwhile_stay_fenced() -> None:
    generations = Generations()
    generations.begin_clear()
    during = generations.begin("k")
    set_during = generations.begin("s", replaces=True)
    assert not generations.may_publish(during)
    assert generations.may_publish(set_during), "a set begun during the clear carries new data"
    generations.end_clear()
    assert not generations.may_publish(during)
    assert generations.may_publish(set_during)
    follow_up = generations.published(set_during)
    assert generations.may_publish(follow_up)
    after = generations.begin("k")
    assert generations.may_publish(after), "writes begun after the clear ended are not fenced"


def test_overlapping_clears_fence_until_the_last_ends() -> None:
    generations = Generations()
    generations.begin_clear()
    generations.begin_clear()
    generations.end_clear()
    assert not generations.may_publish(generations.begin("k"))
    generations.end_clear()
    assert generations.may_publish(generations.begin("k"))
