"""The serializers of ``daramjwee.serializers`` alone (rules V3-V5); with a cache: tests/_async/test_values.py."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import math
import os
import pickle
import subprocess
import sys
from typing import Any, NoReturn

import pytest

import daramjwee as dj
from daramjwee import serializers
from daramjwee._values import async_call_loader, call_loader, check_serializer, decode, tagged
from daramjwee.serializers import _json

HAS_ORJSON = importlib.util.find_spec("orjson") is not None
HAS_MSGPACK = importlib.util.find_spec("msgpack") is not None

NESTED = {
    "name": "다람쥐 🐿",
    "list": [1, -2, 3.5, True, False, None, "x"],
    "nested": {"deeper": {"deepest": [[], {}, [{"a": "b"}]]}},
    "big": 2**62,
    "empty": "",
}

JSON_BACKENDS = [
    "stdlib",
    pytest.param("orjson", marks=pytest.mark.skipif(not HAS_ORJSON, reason="orjson is not installed")),
]

KEY_A = b"a" * 32
KEY_B = os.urandom(48)


def _no_unpickling(data: object) -> NoReturn:
    raise AssertionError(f"pickle.loads was called on a refused payload: {bytes(data)[:40]!r}")  # type: ignore[call-overload]


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything is unpickled."""
    monkeypatch.setattr(pickle, "loads", _no_unpickling)


# -- the protocol and the default ----------------------------------------------------


def test_the_default_serializer_is_json_never_pickle() -> None:
    assert isinstance(serializers.DEFAULT_SERIALIZER, dj.JsonSerializer)
    assert "pickle" not in serializers.DEFAULT_SERIALIZER.name


@pytest.mark.parametrize(
    "serializer",
    [dj.BytesSerializer(), dj.StrSerializer(), dj.JsonSerializer(), dj.SignedPickleSerializer([KEY_A])],
    ids=repr,
)
def test_every_built_in_is_a_serializer_with_a_distinct_name(serializer: Any) -> None:
    assert isinstance(serializer, dj.Serializer)
    check_serializer(serializer)
    assert serializer.content_type


def test_names_are_distinct() -> None:
    built_in = [
        dj.BytesSerializer,
        dj.StrSerializer,
        dj.JsonSerializer,
        dj.MsgpackSerializer,
        dj.SignedPickleSerializer,
    ]
    names = [kind.name for kind in built_in]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("bad", [object(), b"json", type("NoName", (), {"name": ""})()])
def test_something_that_is_no_serializer_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="serializer must have"):
        check_serializer(bad)


def test_a_serializer_class_instead_of_an_instance_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="the class JsonSerializer; add"):
        check_serializer(dj.JsonSerializer)


def test_tagging_records_the_name_and_a_content_type_without_changing_the_callers_metadata() -> None:
    mine = dj.Metadata(etag="e", fresh_for=5.0, attrs={"content-type": "application/x-mine", "x": "y"})
    stored = tagged(dj.JsonSerializer(), mine)
    assert dict(stored.attrs) == {"content-type": "application/x-mine", "x": "y", ":serializer": "json"}
    assert (stored.etag, stored.fresh_for) == ("e", 5.0)
    assert ":serializer" not in mine.attrs
    assert tagged(dj.StrSerializer(), None).attrs["content-type"] == "text/plain; charset=utf-8"
    with pytest.raises(TypeError, match="is_negative"):
        tagged(dj.JsonSerializer(), dj.Metadata(is_negative=True))
    with pytest.raises(TypeError, match="Metadata"):
        tagged(dj.JsonSerializer(), {"fresh_for": 1})  # type: ignore[arg-type]


def test_an_entry_is_decoded_only_by_the_serializer_that_wrote_it() -> None:
    data = dj.StrSerializer().dumps("hello")
    with pytest.raises(dj.DecodeError, match="stored by serializer 'str', not by 'json'"):
        decode(dj.JsonSerializer(), "k", data, tagged(dj.StrSerializer(), None))
    with pytest.raises(dj.DecodeError, match="raw bytes"):
        decode(dj.StrSerializer(), "k", data, dj.Metadata())
    assert decode(dj.StrSerializer(), "k", data, tagged(dj.StrSerializer(), None)) == "hello"


def test_a_value_error_of_a_custom_serializer_is_a_decode_error() -> None:
    class Picky:
        name = "picky"
        content_type = "text/plain"

        def dumps(self, value: str) -> bytes:
            return value.encode()

        def loads(self, data: bytes) -> str:
            raise ValueError("never")

    with pytest.raises(dj.DecodeError, match="never") as caught:
        decode(Picky(), "k", b"x", tagged(Picky(), None))
    assert isinstance(caught.value.__cause__, ValueError)


def test_errors_are_daramjwee_errors_and_value_errors() -> None:
    assert issubclass(dj.SignatureError, dj.DecodeError)
    assert issubclass(dj.DecodeError, dj.DaramjweeError)
    assert issubclass(dj.DecodeError, ValueError)


# -- bytes and str ----------------------------------------------------------------------


def test_bytes_round_trip_as_they_are() -> None:
    raw = dj.BytesSerializer()
    for value in (b"", bytes(range(256)), bytearray(b"ab"), memoryview(b"cd")):
        assert raw.loads(raw.dumps(value)) == bytes(value)
    with pytest.raises(TypeError, match="needs bytes"):
        raw.dumps("text")  # type: ignore[arg-type]


def test_str_round_trips_non_ascii_as_utf8() -> None:
    text = dj.StrSerializer()
    value = "다람쥐 — écureuil — 🐿️ \u2028 \x00"
    assert text.dumps(value) == value.encode("utf-8")
    assert text.loads(text.dumps(value)) == value
    with pytest.raises(TypeError, match="needs a str"):
        text.dumps(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(dj.DecodeError, match="not UTF-8"):
        text.loads(b"\xff\xfe")


# -- JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", JSON_BACKENDS)
def test_json_round_trips_nested_structures(backend: Any) -> None:
    json = dj.JsonSerializer(backend=backend)
    assert json.backend == backend
    assert json.loads(json.dumps(NESTED)) == NESTED
    assert json.loads(json.dumps((1, (2, 3)))) == [1, [2, 3]], "tuples come back as lists"
    assert json.loads(json.dumps({1: "a", None: "b", 2.5: "c"})) == {"1": "a", "null": "b", "2.5": "c"}


@pytest.mark.skipif(not HAS_ORJSON, reason="orjson is not installed")
def test_both_json_backends_write_the_same_bytes_and_read_each_other() -> None:
    stdlib, fast = dj.JsonSerializer(backend="stdlib"), dj.JsonSerializer(backend="orjson")
    assert stdlib.name == fast.name
    for value in (NESTED, {3: [1.0, 0.1, 1e20]}, "é\u2028", [None]):
        assert stdlib.dumps(value) == fast.dumps(value)
        assert fast.loads(stdlib.dumps(value)) == stdlib.loads(fast.dumps(value))
    assert dj.JsonSerializer().backend == "orjson", "auto prefers orjson when it is installed"


@pytest.mark.parametrize("backend", JSON_BACKENDS)
def test_json_refuses_datetimes_and_dataclasses_in_both_backends_unless_default_converts_them(backend: Any) -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    moment = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    for value in (moment, Point(1)):
        with pytest.raises(TypeError):
            dj.JsonSerializer(backend=backend).dumps(value)
    converting = dj.JsonSerializer(backend=backend, default=lambda obj: obj.isoformat())
    assert converting.loads(converting.dumps({"at": moment})) == {"at": "2024-01-02T00:00:00+00:00"}


def test_json_nan_is_refused_by_stdlib() -> None:
    """A documented difference: orjson writes ``null``; the standard library refuses (NaN is not JSON)."""
    with pytest.raises(ValueError, match="JSON compliant"):
        dj.JsonSerializer(backend="stdlib").dumps([math.nan])
    if HAS_ORJSON:
        assert dj.JsonSerializer(backend="orjson").dumps([math.nan]) == b"[null]"


@pytest.mark.parametrize("backend", JSON_BACKENDS)
def test_json_that_does_not_parse_is_a_decode_error(backend: Any) -> None:
    for data in (b"{", b"\xff", b"NaN-ish", b""):
        with pytest.raises(dj.DecodeError, match="not JSON"):
            dj.JsonSerializer(backend=backend).loads(data)


def test_json_options_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(dj.ConfigError, match="backend"):
        dj.JsonSerializer(backend="simplejson")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="default"):
        dj.JsonSerializer(default="str")  # type: ignore[arg-type]
    monkeypatch.setattr(_json, "_orjson", lambda: None)
    with pytest.raises(ImportError, match=r"daramjwee\[orjson\]"):
        dj.JsonSerializer(backend="orjson")
    assert dj.JsonSerializer().backend == "stdlib", "auto falls back to the standard library"


# -- msgpack ----------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_MSGPACK, reason="msgpack is not installed")
def test_msgpack_round_trips_nested_structures_bytes_and_int_keys() -> None:
    packer = dj.MsgpackSerializer()
    value = {**NESTED, "raw": b"\x00\xff", 7: "int key"}
    assert packer.loads(packer.dumps(value)) == value
    with pytest.raises(dj.DecodeError, match="not MessagePack"):
        packer.loads(b"\xc1")
    with pytest.raises(dj.DecodeError):
        packer.loads(packer.dumps(1) + b"extra")


def test_msgpack_missing_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgpack", None)
    with pytest.raises(ImportError, match=r"daramjwee\[msgpack\]"):
        dj.MsgpackSerializer()


# -- signed pickle ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Record:
    name: str
    tags: frozenset[str]


def test_signed_pickle_round_trips_any_picklable_value() -> None:
    signed = dj.SignedPickleSerializer([KEY_A])
    value = {"record": Record("x", frozenset({"a"})), "set": {1, 2}, "tuple": (1, b"2"), 3: None}
    assert signed.loads(signed.dumps(value)) == value


def _payloads() -> tuple[bytes, dj.SignedPickleSerializer]:
    signed = dj.SignedPickleSerializer([KEY_A])
    return signed.dumps({"user": 42, "roles": ["admin"]}), signed


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("where", [0, 4, 5, 12, 13, 44, 45, -1])
def test_a_tampered_payload_is_refused_and_never_unpickled(where: int) -> None:
    data, signed = _payloads()
    tampered = bytearray(data)
    tampered[where] ^= 0x01
    with pytest.raises(dj.SignatureError, match="refused"):
        signed.loads(bytes(tampered))


@pytest.mark.usefixtures("no_unpickling")
def test_a_payload_with_a_forged_pickle_is_refused_and_never_unpickled() -> None:
    data, signed = _payloads()
    evil = pickle.dumps(os.system)  # what an attacker with write access to a shared tier would put there
    with pytest.raises(dj.SignatureError, match="does not match"):
        signed.loads(data[:45] + evil)


@pytest.mark.usefixtures("no_unpickling")
def test_an_unsigned_payload_is_refused_and_never_unpickled() -> None:
    _, signed = _payloads()
    for unsigned in (pickle.dumps({"user": 42}), b"", b"{}", dj.JsonSerializer().dumps([1])):
        with pytest.raises(dj.SignatureError, match="not a signed pickle"):
            signed.loads(unsigned)


@pytest.mark.usefixtures("no_unpickling")
@pytest.mark.parametrize("length", [5, 6, 13, 20, 44, 45, 46])
def test_a_truncated_payload_is_refused_and_never_unpickled(length: int) -> None:
    data, signed = _payloads()
    assert length < len(data)
    with pytest.raises(dj.SignatureError, match="truncated"):
        signed.loads(data[:length])


@pytest.mark.usefixtures("no_unpickling")
def test_a_payload_signed_by_an_unknown_key_is_refused_and_never_unpickled() -> None:
    theirs = dj.SignedPickleSerializer([KEY_B]).dumps("value")
    with pytest.raises(dj.SignatureError, match=f"unknown key \\(id {dj.SignedPickleSerializer([KEY_B]).key_ids[0]}"):
        dj.SignedPickleSerializer([KEY_A]).loads(theirs)


def test_key_rotation_signs_with_the_first_key_and_accepts_any() -> None:
    old = dj.SignedPickleSerializer([KEY_A])
    rotated = dj.SignedPickleSerializer([KEY_B, KEY_A])
    assert rotated.key_ids == (*dj.SignedPickleSerializer([KEY_B]).key_ids, *old.key_ids)
    assert rotated.loads(old.dumps("signed with the old key")) == "signed with the old key"
    new_payload = rotated.dumps("signed with the new key")
    assert dj.SignedPickleSerializer([KEY_B]).loads(new_payload) == "signed with the new key"
    with pytest.raises(dj.SignatureError, match="unknown key"):
        old.loads(new_payload)
    retired = dj.SignedPickleSerializer([KEY_B])
    with pytest.raises(dj.SignatureError, match="unknown key"):
        retired.loads(old.dumps("old"))


def test_a_verified_payload_that_fails_to_unpickle_is_a_decode_error_not_a_signature_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed = dj.SignedPickleSerializer([KEY_A])
    data = signed.dumps(Record("x", frozenset()))
    monkeypatch.delattr(sys.modules[__name__], "Record")  # the class is gone (renamed in a later release, say)
    with pytest.raises(dj.DecodeError, match="failed to unpickle") as caught:
        signed.loads(data)
    assert not isinstance(caught.value, dj.SignatureError)


def test_keys_are_checked_at_construction() -> None:
    with pytest.raises(dj.ConfigError, match=r"keys\[1\] is 31 bytes; a key needs at least 32"):
        dj.SignedPickleSerializer([KEY_A, b"k" * 31])
    with pytest.raises(dj.ConfigError, match="at least one key"):
        dj.SignedPickleSerializer([])
    with pytest.raises(TypeError, match="sequence of keys"):
        dj.SignedPickleSerializer(KEY_A)
    with pytest.raises(TypeError, match=r"keys\[0\] must be bytes"):
        dj.SignedPickleSerializer(["a" * 40])  # type: ignore[list-item]
    with pytest.raises(dj.ConfigError, match="protocol"):
        dj.SignedPickleSerializer([KEY_A], protocol=99)


def test_keys_never_show_in_repr() -> None:
    signed = dj.SignedPickleSerializer([KEY_A, KEY_B])
    assert "aaaa" not in repr(signed)
    assert KEY_B.hex() not in repr(signed)
    assert repr(signed) == f"SignedPickleSerializer(key_ids={list(signed.key_ids)!r})"


# -- loaders -------------------------------------------------------------------------------


async def test_loaders_of_the_wrong_flavour_are_type_errors() -> None:
    async def async_loader() -> int:
        return 1

    def sync_loader() -> int:
        return 1

    assert await async_call_loader(async_loader) == 1
    assert call_loader(sync_loader) == 1
    with pytest.raises(TypeError, match=r"use daramjwee\.Cache for sync loaders"):
        await async_call_loader(sync_loader)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"use daramjwee\.AsyncCache for async loaders"):
        call_loader(async_loader)


def test_importing_daramjwee_imports_neither_optional_serializer_library() -> None:
    script = "import sys, daramjwee; assert not {'orjson', 'msgpack'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
