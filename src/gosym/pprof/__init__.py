"""pprof profiles (profile.proto): read, check, build and write them.

The message classes are generated from profile.proto (profile_pb2.py, see
scripts/gen_profile_pb2.py); this module adds what every user of them needs:

* :func:`parse` reads a profile as ``go tool pprof`` does
  (cmd/vendor/github.com/google/pprof/profile/profile.go ``ParseData`` and
  ``CheckValid``): gzipped or plain, packed or unpacked repeated fields, and
  refuses with one :class:`~gosym.errors.FormatError` what pprof would refuse
  (plus a profile without sample types, which has nothing to show).
* :func:`serialize` writes one, gzipped as runtime/pprof does (proto.go:
  ``gzip.NewWriterLevel(w, gzip.BestSpeed)``).
* :class:`ProfileBuilder` makes a profile from names and addresses: the string
  table, ids, and the deduplication of functions and locations are its job.
* :class:`ProfileView` answers the questions a reader asks (sample types,
  a sample's stack, a location's functions) with the ids resolved.

Importing this module imports protobuf: only the commands that read or write
profiles import it.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from typing import Iterable, Sequence

from ..errors import FormatError
from . import profile_pb2 as pb
from .profile_pb2 import Function, Label, Line, Location, Mapping, Profile, Sample, ValueType

__all__ = ["parse", "serialize", "ProfileBuilder", "ProfileView", "Profile", "Sample",
           "Location", "Line", "Function", "Mapping", "ValueType", "Label"]

_GZIP_MAGIC = b"\x1f\x8b"


# --- reading -----------------------------------------------------------------------

def parse(data: bytes) -> Profile:
    """The profile in ``data`` (gzipped or plain protobuf), checked as pprof checks it.

    Raises FormatError for empty input, a truncated or corrupt gzip stream,
    bytes that are not a protobuf message, and a message that is not a
    profile: no sample types, string_table[0] not "", a string index out of
    range, an id that is zero, repeated, or refers to nothing.
    """
    if not data:
        raise FormatError("empty profile")
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise FormatError(f"not a profile: corrupt or truncated gzip data ({e})") from None
        if not data:
            raise FormatError("empty profile (gzip data holds nothing)")
    profile = Profile()
    try:
        profile.ParseFromString(data)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        raise FormatError(f"not a pprof profile (protobuf: {e})") from None
    check(profile)
    return profile


def check(profile: Profile) -> None:
    """Raise FormatError unless ``profile`` is well formed (ids and strings resolve)."""
    strings = profile.string_table
    n_strings = len(strings)
    if n_strings == 0:
        raise FormatError("not a pprof profile: no string table")
    if strings[0] != "":
        raise FormatError("not a pprof profile: string_table[0] must be the empty string")
    if not profile.sample_type:
        raise FormatError("not a pprof profile: no sample types")

    def string_index(value: int, what: str) -> None:
        if not 0 <= value < n_strings:
            raise FormatError(f"malformed profile: {what} refers to string {value}, "
                              f"the table has {n_strings}")

    for vt in profile.sample_type:
        string_index(vt.type, "a sample type")
        string_index(vt.unit, "a sample type's unit")
    string_index(profile.period_type.type, "the period type")
    string_index(profile.period_type.unit, "the period type's unit")
    string_index(profile.default_sample_type, "default_sample_type")
    string_index(profile.drop_frames, "drop_frames")
    string_index(profile.keep_frames, "keep_frames")
    string_index(profile.doc_url, "doc_url")
    for c in profile.comment:
        string_index(c, "a comment")

    mapping_ids = _unique_ids(profile.mapping, "mapping")
    function_ids = _unique_ids(profile.function, "function")
    location_ids = _unique_ids(profile.location, "location")
    for m in profile.mapping:
        string_index(m.filename, f"mapping {m.id}'s file name")
        string_index(m.build_id, f"mapping {m.id}'s build id")
    for f in profile.function:
        string_index(f.name, f"function {f.id}'s name")
        string_index(f.system_name, f"function {f.id}'s system name")
        string_index(f.filename, f"function {f.id}'s file name")
    for loc in profile.location:
        if loc.mapping_id and loc.mapping_id not in mapping_ids:
            raise FormatError(f"malformed profile: location {loc.id} refers to mapping "
                              f"{loc.mapping_id}, which is not in the profile")
        for ln in loc.line:
            if ln.function_id not in function_ids:
                raise FormatError(f"malformed profile: location {loc.id} refers to function "
                                  f"{ln.function_id}, which is not in the profile")

    n_types = len(profile.sample_type)
    for i, s in enumerate(profile.sample):
        if len(s.value) != n_types:
            raise FormatError(f"malformed profile: sample {i} has {len(s.value)} values "
                              f"for {n_types} sample types")
        for lb in s.label:
            string_index(lb.key, f"a label of sample {i}")
            string_index(lb.str, f"a label of sample {i}")
            string_index(lb.num_unit, f"a label of sample {i}")
    # All location references at once (C-level iteration: profiles hold millions).
    if not location_ids.issuperset(
            itertools.chain.from_iterable(s.location_id for s in profile.sample)):
        for i, s in enumerate(profile.sample):
            for lid in s.location_id:
                if lid not in location_ids:
                    raise FormatError(f"malformed profile: sample {i} refers to location "
                                      f"{lid}, which is not in the profile")


def _unique_ids(messages, what: str) -> set[int]:
    ids = {m.id for m in messages}
    if len(ids) != len(messages) or 0 in ids:
        seen: set[int] = set()
        for m in messages:
            if m.id == 0:
                raise FormatError(f"malformed profile: a {what} has the reserved id 0")
            if m.id in seen:
                raise FormatError(f"malformed profile: two {what}s have id {m.id}")
            seen.add(m.id)
    return ids


# --- writing -----------------------------------------------------------------------

def serialize(profile: Profile, gzip: bool = True) -> bytes:
    """The profile's bytes, gzipped (fast level, as runtime/pprof writes them) by default."""
    data = profile.SerializeToString()
    if gzip:
        data = _gzip_compress(data)
    return data


def _gzip_compress(data: bytes) -> bytes:
    # mtime=0: the same profile gives the same bytes.
    return gzip.compress(data, compresslevel=1, mtime=0)


class ProfileBuilder:
    """Builds a Profile from names and addresses.

    Strings, functions and locations are deduplicated; ids start at 1 in the
    order things are added. A mapping's ``has_*`` flags left at None are
    decided by :meth:`build` from the locations that use it: functions when
    every location in it has lines, file names when all their functions have
    one, line numbers when every line has one, inline frames when some
    location has more than one line.
    """

    def __init__(self, sample_types: Sequence[tuple[str, str]] = (("goroutine", "count"),
                                                                    ("stack", "bytes")),
                 default_sample_type: str = "bytes",
                 period_type: tuple[str, str] | None = None, period: int = 0, *,
                 time_nanos: int = 0, duration_nanos: int = 0,
                 comments: Iterable[str] = ()) -> None:
        self._strings: dict[str, int] = {"": 0}
        self._profile = Profile()
        p = self._profile
        for typ, unit in sample_types:
            p.sample_type.add(type=self.string(typ), unit=self.string(unit))
        if default_sample_type:
            p.default_sample_type = self.string(default_sample_type)
        if period_type is not None:
            p.period_type.type = self.string(period_type[0])
            p.period_type.unit = self.string(period_type[1])
        p.period = period
        p.time_nanos = time_nanos
        p.duration_nanos = duration_nanos
        for c in comments:
            p.comment.append(self.string(c))
        self._n_values = len(p.sample_type)
        self._functions: dict[tuple, int] = {}
        self._locations: dict[tuple, int] = {}
        self._mapping_flags: list[list[bool | None]] = []

    def string(self, s: str) -> int:
        """The string table index of s (added when new)."""
        i = self._strings.get(s)
        if i is None:
            i = self._strings[s] = len(self._strings)
        return i

    def mapping(self, start: int, limit: int, offset: int, filename: str, build_id: str = "",
                has_functions: bool | None = None, has_filenames: bool | None = None,
                has_line_numbers: bool | None = None,
                has_inline_frames: bool | None = None) -> int:
        """Add a mapping of [start, limit) at file offset ``offset``; returns its id."""
        m = self._profile.mapping.add(id=len(self._profile.mapping) + 1, memory_start=start,
                                      memory_limit=limit, file_offset=offset,
                                      filename=self.string(filename),
                                      build_id=self.string(build_id))
        self._mapping_flags.append([has_functions, has_filenames, has_line_numbers,
                                    has_inline_frames])
        return m.id

    def function(self, name: str, system_name: str, filename: str, start_line: int = 0) -> int:
        """The id of the function with these fields (added when new)."""
        key = (name, system_name, filename, start_line)
        fid = self._functions.get(key)
        if fid is None:
            fid = self._functions[key] = len(self._functions) + 1
            self._profile.function.add(id=fid, name=self.string(name),
                                       system_name=self.string(system_name),
                                       filename=self.string(filename), start_line=start_line)
        return fid

    def location(self, address: int, mapping_id: int = 0,
                 lines: Sequence[tuple[int, int]] = ()) -> int:
        """The id of the location at ``address`` in mapping ``mapping_id`` (0: none)
        with ``lines`` [(function id, line)], innermost first (added when new)."""
        key = (address, mapping_id, tuple(lines))
        lid = self._locations.get(key)
        if lid is None:
            if mapping_id and not 0 < mapping_id <= len(self._profile.mapping):
                raise ValueError(f"no mapping {mapping_id}")
            lid = self._locations[key] = len(self._locations) + 1
            loc = self._profile.location.add(id=lid, mapping_id=mapping_id, address=address)
            for function_id, line in lines:
                if not 0 < function_id <= len(self._functions):
                    raise ValueError(f"no function {function_id}")
                loc.line.add(function_id=function_id, line=line)
        return lid

    def sample(self, location_ids: Sequence[int], values: Sequence[int],
               labels: dict[str, str] | None = None,
               num_labels: dict[str, int] | None = None) -> None:
        """Add a sample: its stack (location ids, leaf first) and one value per sample type."""
        if len(values) != self._n_values:
            raise ValueError(f"{len(values)} values for {self._n_values} sample types")
        s = self._profile.sample.add(location_id=location_ids, value=values)
        for k, v in (labels or {}).items():
            s.label.add(key=self.string(k), str=self.string(v))
        for k, n in (num_labels or {}).items():
            s.label.add(key=self.string(k), num=n)

    def build(self) -> Profile:
        """The profile (a new message each call; the builder can go on)."""
        p = Profile()
        p.CopyFrom(self._profile)
        p.string_table.extend(self._strings)  # dicts keep insertion order: index order
        functions = {f.id: f for f in p.function}
        by_mapping: dict[int, list[Location]] = {}
        for loc in p.location:
            by_mapping.setdefault(loc.mapping_id, []).append(loc)
        for m, flags in zip(p.mapping, self._mapping_flags):
            locs = by_mapping.get(m.id, [])
            lines = [ln for loc in locs for ln in loc.line]
            derived = [
                bool(locs) and all(loc.line for loc in locs),
                bool(lines) and all(functions[ln.function_id].filename for ln in lines),
                bool(lines) and all(ln.line > 0 for ln in lines),
                any(len(loc.line) > 1 for loc in locs),
            ]
            (m.has_functions, m.has_filenames, m.has_line_numbers,
             m.has_inline_frames) = [d if f is None else f for f, d in zip(flags, derived)]
        return p


# --- a reader's view -----------------------------------------------------------------

class ProfileView:
    """A parsed profile with its ids and strings resolved."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.strings: list[str] = list(profile.string_table)
        self._locations = {loc.id: loc for loc in profile.location}
        self._functions = {f.id: f for f in profile.function}
        self._mappings = {m.id: m for m in profile.mapping}

    @property
    def sample_types(self) -> list[tuple[str, str]]:
        """(type, unit) of each sample value, e.g. [("alloc_objects", "count"), ...]."""
        s = self.strings
        return [(s[vt.type], s[vt.unit]) for vt in self.profile.sample_type]

    @property
    def period_type(self) -> tuple[str, str]:
        s = self.strings
        return s[self.profile.period_type.type], s[self.profile.period_type.unit]

    @property
    def default_sample_type(self) -> str:
        return self.strings[self.profile.default_sample_type]

    @property
    def comments(self) -> list[str]:
        return [self.strings[c] for c in self.profile.comment]

    def location(self, location_id: int) -> Location:
        return self._locations[location_id]

    def function(self, function_id: int) -> Function:
        return self._functions[function_id]

    def mapping(self, mapping_id: int) -> Mapping | None:
        """The mapping with this id; None for 0 (a location without one)."""
        return self._mappings.get(mapping_id) if mapping_id else None

    def stack(self, sample: Sample) -> list[Location]:
        """The sample's locations, leaf first."""
        locs = self._locations
        return [locs[i] for i in sample.location_id]

    def lines(self, location: Location) -> list[tuple[Function, int]]:
        """(function, line) of each Line of a location, innermost inlined function first."""
        fns = self._functions
        return [(fns[ln.function_id], ln.line) for ln in location.line]

    def function_name(self, function: Function) -> str:
        return self.strings[function.name]

    def labels(self, sample: Sample) -> dict[str, list[str]]:
        """String labels of a sample (a key may repeat)."""
        s = self.strings
        out: dict[str, list[str]] = {}
        for lb in sample.label:
            if lb.str:
                out.setdefault(s[lb.key], []).append(s[lb.str])
        return out

    def num_labels(self, sample: Sample) -> dict[str, list[int]]:
        """Numeric labels of a sample."""
        s = self.strings
        out: dict[str, list[int]] = {}
        for lb in sample.label:
            if not lb.str:
                out.setdefault(s[lb.key], []).append(lb.num)
        return out


# The generated module, for callers that need its other names.
profile_pb2 = pb
