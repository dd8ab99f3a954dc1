"""The pure part of fleet coordination (rules Y3, Y5, Y6): messages and the invalidation log cursor."""

from __future__ import annotations

import pytest

from daramjwee._fleet import (
    RESYNC,
    Cursor,
    Invalidation,
    decode_fill,
    decode_invalidation,
    decode_tag_list,
    encode_entry,
    encode_tag_list,
    parse_entry,
)

ME, OTHER = "me00", "other1"


def entry(seq: int, kind: str = "key", arg: str = "k", origin: str = OTHER) -> str:
    return f"{seq} {encode_entry(origin, kind, arg)}"


def test_an_entry_keeps_spaces_and_newlines_in_its_argument() -> None:
    assert parse_entry(entry(7, "key", "a key with spaces\nand a newline")) == Invalidation(
        7, OTHER, "key", "a key with spaces\nand a newline"
    )
    assert parse_entry(entry(8, "clear", "")) == Invalidation(8, OTHER, "clear", "")


@pytest.mark.parametrize("bad", ["", "7", "x other key k", "7 other drop k", "7 other key"])
def test_a_malformed_entry_is_none(bad: str) -> None:
    assert parse_entry(bad) is None


def test_messages_decode_by_kind() -> None:
    assert decode_fill("F published some key") == ("published", "some key")
    assert decode_fill("F maybe k") is None
    assert decode_fill("I e 1 o key k") is None
    assert decode_invalidation("I epoch1 " + entry(3)) == ("epoch1", Invalidation(3, OTHER, "key", "k"))
    assert decode_invalidation("F published k") is None
    assert decode_invalidation("I epoch1 garbage") is None


def test_tags_round_trip() -> None:
    assert decode_tag_list(encode_tag_list(["a", "b c"])) == ["a", "b c"]
    assert decode_tag_list("") == []


def test_the_first_sync_applies_nothing() -> None:
    cursor = Cursor(ME)
    assert cursor.synced("e", 41, [entry(41)]) == []
    assert (cursor.epoch, cursor.seq) == ("e", 41)


def test_messages_in_order_apply_others_and_skip_own() -> None:
    cursor = Cursor(ME)
    cursor.synced("e", 0, [])
    first = Invalidation(1, OTHER, "key", "a")
    own = Invalidation(2, ME, "key", "b")
    assert cursor.received("e", first, None) == [first]
    assert cursor.received("e", own, None) == []
    assert cursor.seq == 2
    assert cursor.received("e", first, None) == []  # seen already


def test_a_gap_asks_for_the_log_then_replays_it_in_order() -> None:
    cursor = Cursor(ME)
    cursor.synced("e", 5, [])
    later = Invalidation(8, OTHER, "key", "c")
    assert cursor.received("e", later, None) is None
    log = [entry(8, arg="c"), entry(6, arg="a"), entry(7, arg="b", origin=ME), entry(5, arg="old")]
    assert cursor.received("e", later, log) == [
        Invalidation(6, OTHER, "key", "a"),
        Invalidation(8, OTHER, "key", "c"),
    ]
    assert cursor.seq == 8


def test_a_log_trimmed_past_the_cursor_resyncs() -> None:
    cursor = Cursor(ME)
    cursor.synced("e", 5, [])
    assert cursor.synced("e", 10, [entry(9), entry(10)]) == [RESYNC]
    assert cursor.seq == 10
    assert cursor.synced("e", 10, []) == []


def test_a_reconnect_replays_what_was_missed() -> None:
    cursor = Cursor(ME)
    cursor.synced("e", 5, [])
    assert cursor.synced("e", 7, [entry(5), entry(6, arg="x"), entry(7, kind="clear", arg="")]) == [
        Invalidation(6, OTHER, "key", "x"),
        Invalidation(7, OTHER, "clear", ""),
    ]


@pytest.mark.parametrize(("epoch", "seq"), [("new", 9), ("e", 2)], ids=["new epoch", "counter went back"])
def test_a_redis_that_lost_its_log_resyncs(epoch: str, seq: int) -> None:
    cursor = Cursor(ME)
    cursor.synced("e", 5, [])
    assert cursor.synced(epoch, seq, []) == [RESYNC]
    assert (cursor.epoch, cursor.seq) == (epoch, seq)


def test_a_message_from_another_epoch_resyncs() -> None:
    cursor = Cursor(ME)
    cursor.synced("e", 5, [])
    assert cursor.received("f", Invalidation(1, OTHER, "key", "k"), None) == [RESYNC]
    assert (cursor.epoch, cursor.seq) == ("f", 1)
