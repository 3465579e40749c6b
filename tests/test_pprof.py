"""gosym.pprof: profiles written by the builder open in Go's pprof; Go's own
profiles parse; malformed input gives one FormatError."""

from __future__ import annotations

import gzip

import pytest

from gotools import parse_pprof_raw, run_go_tool

from gosym.errors import FormatError
from gosym.pprof import ProfileBuilder, ProfileView, parse, serialize


def _sample_profile():
    """A profile with two mappings, an inlined location, labels and a virtual frame."""
    b = ProfileBuilder(sample_types=[("goroutine", "count"), ("stack", "bytes")],
                       default_sample_type="stack", period_type=("goroutine", "count"), period=1)
    exe = b.mapping(0x400000, 0x500000, 0, "/usr/bin/prog", "b1d")
    lib = b.mapping(0x7f0000000000, 0x7f0000010000, 0x1000, "/lib/libx.so")
    leaf = b.function("main.leaf", "main.leaf", "/src/main.go", 10)
    mid = b.function("main.mid", "main.mid", "/src/main.go", 20)
    top = b.function("main.(*T).Run[...]", "main.(*T).Run[go.shape.int]", "/src/t.go", 30)
    c = b.function("c_func", "c_func", "")
    free = b.function("runtime._FreeStack", "runtime._FreeStack", "")
    l_inl = b.location(0x401000, exe, [(leaf, 12), (mid, 22)])
    l_top = b.location(0x402000, exe, [(top, 33)])
    l_lib = b.location(0x7f0000001234, lib)  # address only
    l_c = b.location(0x7f0000002000, lib, [(c, 0)])
    l_virtual = b.location(0, 0, [(free, 0)])
    assert b.location(0x401000, exe, [(leaf, 12), (mid, 22)]) == l_inl  # deduplicated
    assert b.function("main.leaf", "main.leaf", "/src/main.go", 10) == leaf
    b.sample([l_inl, l_top], [3, 4096], labels={"handler": "api"}, num_labels={"bytes": 5})
    b.sample([l_top], [1, 128])
    b.sample([l_lib, l_c, l_top], [2, 64])
    b.sample([l_virtual, l_top], [1, 2048])
    return b.build()


def test_builder_round_trip_and_view():
    p = _sample_profile()
    for data in (serialize(p), serialize(p, gzip=False)):
        v = ProfileView(parse(data))
        assert v.sample_types == [("goroutine", "count"), ("stack", "bytes")]
        assert v.default_sample_type == "stack"
        assert v.period_type == ("goroutine", "count")
        assert v.strings[0] == ""
        s0 = v.profile.sample[0]
        stack = v.stack(s0)
        assert [loc.address for loc in stack] == [0x401000, 0x402000]
        assert [(v.function_name(f), ln) for f, ln in v.lines(stack[0])] == [
            ("main.leaf", 12), ("main.mid", 22)]
        assert v.labels(s0) == {"handler": ["api"]}
        assert v.num_labels(s0) == {"bytes": [5]}
        assert v.mapping(stack[0].mapping_id).memory_start == 0x400000
        assert v.mapping(0) is None
    # Flags derived from the locations: the executable's are all symbolized
    # with an inlined location; the library has an address-only location.
    exe, lib = p.mapping
    assert (exe.has_functions, exe.has_filenames, exe.has_line_numbers,
            exe.has_inline_frames) == (True, True, True, True)
    assert not lib.has_functions
    assert serialize(p) == serialize(p)  # deterministic (gzip mtime 0)


def test_builder_profile_opens_in_go_pprof(tmp_path):
    """`go tool pprof -raw` reads back every sample, location and line as built,
    and `-top` shows the functions."""
    p = _sample_profile()
    path = tmp_path / "p.pb.gz"
    path.write_bytes(serialize(p))
    raw = run_go_tool("pprof", "-raw", str(path))
    if raw is None:
        pytest.skip("no Go toolchain in the cache; run `make toolchains`")
    assert raw.returncode == 0, raw.stderr.decode()
    got = parse_pprof_raw(raw.stdout.decode())
    assert got.sample_types == ["goroutine/count", "stack/bytes"]
    assert got.default_type == "stack"
    v = ProfileView(p)
    want = []
    for s in p.sample:
        want.append((tuple(s.value), [
            (loc.address, [(v.function_name(f), v.strings[f.filename], ln)
                           for f, ln in v.lines(loc)]) for loc in v.stack(s)]))
    assert sorted(want) == sorted((s[0], got.stack(s)) for s in got.samples)

    top = run_go_tool("pprof", "-top", str(path))
    assert top.returncode == 0, top.stderr.decode()
    text = top.stdout.decode()
    assert "Type: stack" in text
    for name in ("main.leaf", "main.mid", "main.(*T).Run[...]", "runtime._FreeStack"):
        assert name in text


# --- hand-made bytes: packed and unpacked repeated fields ---------------------------

def _varint(v: int) -> bytes:
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)  # wire type 0: varint


def _bytes_field(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data  # wire type 2


def _hand_made_profile(packed: bool) -> bytes:
    """Profile{sample_type: [{type: "samples", unit: "count"}],
    sample: [{location_id: [1, 2], value: [7]}], location 1 and 2 at 0x10, 0x20,
    string_table ["", "samples", "count"]}, with the sample's repeated fields
    packed (one length-delimited field) or unpacked (one varint field each)."""
    sample_type = _field(1, 1) + _field(2, 2)  # ValueType.type=1, .unit=2
    if packed:
        sample = (_bytes_field(1, _varint(1) + _varint(2))  # Sample.location_id packed
                  + _bytes_field(2, _varint(7)))  # Sample.value packed
    else:
        sample = _field(1, 1) + _field(1, 2) + _field(2, 7)
    loc1 = _field(1, 1) + _field(3, 0x10)  # Location.id=1, .address=0x10
    loc2 = _field(1, 2) + _field(3, 0x20)
    return (_bytes_field(1, sample_type) + _bytes_field(2, sample) + _bytes_field(4, loc1)
            + _bytes_field(4, loc2) + _bytes_field(6, b"") + _bytes_field(6, b"samples")
            + _bytes_field(6, b"count"))


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "unpacked"])
def test_packed_and_unpacked_repeated_fields(packed, tmp_path):
    data = _hand_made_profile(packed)
    v = ProfileView(parse(data))
    assert v.sample_types == [("samples", "count")]
    s = v.profile.sample[0]
    assert list(s.value) == [7]
    assert [loc.address for loc in v.stack(s)] == [0x10, 0x20]
    path = tmp_path / "p.pb"
    path.write_bytes(data)
    raw = run_go_tool("pprof", "-raw", "-symbolize=none", str(path))
    if raw is None:
        pytest.skip("no Go toolchain in the cache; run `make toolchains`")
    assert raw.returncode == 0, raw.stderr.decode()
    got = parse_pprof_raw(raw.stdout.decode())
    assert [(s[0], [a for a, _ in got.stack(s)]) for s in got.samples] == [((7,), [0x10, 0x20])]


# --- malformed input ------------------------------------------------------------------

def _mutated(edit):
    p = _sample_profile()
    edit(p)
    return serialize(p, gzip=False)


def _drop_string_table(p):
    del p.string_table[:]


MALFORMED = {
    "empty": (b"", "empty profile"),
    "gzip-empty": (gzip.compress(b""), "empty profile"),
    "truncated-gzip": (serialize(_sample_profile())[:40], "gzip"),
    "gzip-garbage": (b"\x1f\x8b" + b"\x00" * 30, "gzip"),
    "garbage": (b"\xff\xfe\xfd not a profile \x00\x01", "not a pprof profile"),
    "text": (b"goroutine profile: total 3\n3 @ 0x1 0x2\n", "not a pprof profile"),
    "no-string-table": (_mutated(_drop_string_table), "no string table"),
    "string0-not-empty": (_mutated(lambda p: p.string_table.__setitem__(0, "x")),
                          "string_table[0]"),
    "no-sample-types": (_mutated(lambda p: p.ClearField("sample_type")), "no sample types"),
    "value-count": (_mutated(lambda p: p.sample[0].value.append(1)), "values"),
    "missing-location": (_mutated(lambda p: p.sample[1].location_id.append(99)),
                         "location 99"),
    "missing-function": (_mutated(lambda p: setattr(p.location[0].line[0], "function_id", 77)),
                         "function 77"),
    "missing-mapping": (_mutated(lambda p: setattr(p.location[0], "mapping_id", 9)),
                        "mapping 9"),
    "zero-location-id": (_mutated(lambda p: setattr(p.location[1], "id", 0)), "id 0"),
    "duplicate-function-id": (_mutated(lambda p: setattr(p.function[1], "id", 1)),
                              "two functions have id 1"),
    "string-out-of-range": (_mutated(lambda p: setattr(p.function[0], "name", 10_000)),
                            "string 10000"),
}

# pprof itself refuses these (the others it reads as legacy text or accepts).
GO_PPROF_REFUSES = {"empty", "truncated-gzip", "gzip-garbage", "garbage", "string0-not-empty",
                    "value-count", "zero-location-id", "duplicate-function-id",
                    "string-out-of-range"}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_profiles(name, tmp_path):
    data, message = MALFORMED[name]
    with pytest.raises(FormatError) as e:
        parse(data)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    if name in GO_PPROF_REFUSES:
        path = tmp_path / "bad.pb"
        path.write_bytes(data)
        r = run_go_tool("pprof", "-raw", "-symbolize=none", str(path))
        if r is None:
            pytest.skip("no Go toolchain in the cache; run `make toolchains`")
        assert r.returncode != 0, r.stdout.decode()


# --- profiles written by Go -----------------------------------------------------------

from binaries import testbins as _testbins  # noqa: E402
from conftest import need  # noqa: E402

DEEPPROF_DEFAULT = [t for t in _testbins("deepprof") if t.out_dir is not None
                    and t.variant == "default"]
PROTO_PROFILES = ("cpu", "heap", "allocs", "block", "mutex", "goroutine", "threadcreate")


@pytest.mark.parametrize("tb", need(DEEPPROF_DEFAULT, "deepprof test binaries"),
                         ids=lambda t: t.id if t else "none")
def test_go_written_profiles_parse(tb):
    """Every profile the runtime wrote parses, and its samples and stacks are
    the ones `go tool pprof -raw` reads from the same file."""
    for name in PROTO_PROFILES:
        path = tb.out_dir / f"{name}.pb.gz"
        v = ProfileView(parse(path.read_bytes()))
        assert v.profile.sample, name
        raw = run_go_tool("pprof", "-raw", "-symbolize=none", str(path))
        if raw is None:
            pytest.skip("no Go toolchain in the cache; run `make toolchains`")
        assert raw.returncode == 0, raw.stderr.decode()
        got = parse_pprof_raw(raw.stdout.decode())
        assert got.sample_types == [f"{t}/{u}" for t, u in v.sample_types]
        want = sorted((tuple(s.value), [(loc.address, [(v.function_name(f),
                                                        v.strings[f.filename], ln)
                                                       for f, ln in v.lines(loc)])
                                        for loc in v.stack(s)]) for s in v.profile.sample)
        assert want == sorted((s[0], got.stack(s)) for s in got.samples), name
