"""Where a request body that failed to parse goes wrong, read off the protobuf wire format with the message's
descriptor: the parser (upb) says only "Wire format was corrupt" or "String field had bad UTF-8", while a
client wants the field (`spec.video.prompt is not valid UTF-8`) or the kind of damage."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

MAX_DEPTH = 100  # the parser's recursion limit: messages and groups nested deeper are refused
MAX_FIELDS = 20_000  # fields read at most (this walk is Python, and bodies go up to 4 MiB): then unnamed
VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = range(6)


class Fault(Exception):
    """What is wrong with the body; `field` is its path when the damage is inside one field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field} {problem}" if field else f"the body {problem}")
        self.field, self.problem = field, problem


class _TooLong(Exception):
    """The walk read MAX_FIELDS fields without finding the fault."""


def find_fault(descriptor: Descriptor | None, data: bytes) -> Fault | None:
    """The first fault of `data` read as `descriptor`'s message, or None when the walk finds none (or gives
    up after MAX_FIELDS fields)."""
    try:
        _fields(memoryview(data), 0, len(data), descriptor, "", 0, None, [MAX_FIELDS])
    except Fault as fault:
        return fault
    except RecursionError:
        return Fault("", f"nests messages or groups more than {MAX_DEPTH} deep")
    except _TooLong:
        return None
    return None


class _Cut(Exception):
    """A varint or a fixed-size value runs past the end of what holds it."""


def _varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Cut
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _name(path: str, field: FieldDescriptor | None, number: int) -> str:
    return (f"{path}." if path else "") + (field.name if field is not None else f"#{number}")


def _fields(data: memoryview, pos: int, end: int, descriptor: Descriptor | None, path: str, depth: int,
            group: int | None, left: list[int]) -> int:
    """Walks the fields in data[pos:end] (up to the end tag of `group`, when reading one); returns where it
    stopped. `path` names the enclosing field, for the messages; `left` counts down the fields to read."""
    if depth > MAX_DEPTH:
        raise Fault(path.partition(".")[0], f"nests messages or groups more than {MAX_DEPTH} deep")
    fields = descriptor.fields_by_number if descriptor is not None else {}
    while pos < end:
        left[0] -= 1
        if left[0] < 0:
            raise _TooLong
        try:
            tag, pos = _varint(data, pos, end)
        except _Cut:
            raise Fault(path, "has a tag whose varint is cut short or longer than 10 bytes") from None
        number, wire = tag >> 3, tag & 7
        field = fields.get(number)
        if number == 0:
            raise Fault(path, "has a field number 0, which no field has")
        if wire == END_GROUP:
            if group == number:
                return pos
            raise Fault(path, f"has an end-group tag of field {number} without its start")
        try:
            if wire == VARINT:
                _, pos = _varint(data, pos, end)
            elif wire == FIXED64 or wire == FIXED32:
                pos += 8 if wire == FIXED64 else 4
                if pos > end:
                    raise _Cut
            elif wire == LENGTH:
                length, pos = _varint(data, pos, end)
                if pos + length > end:
                    raise Fault(_name(path, field, number),
                                f"runs past the end of the body (its length says {length} bytes)")
                if field is not None and field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE):
                    _check_value(data, pos, pos + length, field, _name(path, field, number), depth, left)
                pos += length
            elif wire == START_GROUP:
                inner = field.message_type if field is not None and field.type == FieldDescriptor.TYPE_GROUP else None
                pos = _fields(data, pos, end, inner, _name(path, field, number), depth + 1, number, left)
            else:
                raise Fault(_name(path, field, number), f"uses wire type {wire}, which does not exist")
        except _Cut:
            raise Fault(_name(path, field, number), "runs past the end of the body") from None
    if group is not None:
        raise Fault(path, "has a group without its end tag")
    return pos


def _check_value(data: memoryview, pos: int, end: int, field: FieldDescriptor, name: str, depth: int,
                 left: list[int]) -> None:
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            bytes(data[pos:end]).decode("utf-8")
        except UnicodeDecodeError:
            raise Fault(name, "is not valid UTF-8") from None
    else:  # a message (an unknown field's bytes are kept, never parsed)
        _fields(data, pos, end, field.message_type, name, depth + 1, None, left)
