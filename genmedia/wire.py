"""Where a request body that failed to parse goes wrong, read off the protobuf wire format with the message's
descriptor: the parser (upb) says only "Wire format was corrupt" or "String field had bad UTF-8", while a
client wants the field (`spec.video.prompt is not valid UTF-8`) or the kind of damage."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

MAX_DEPTH = 100  # the parser's recursion limit: messages and groups nested deeper are refused
VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = range(6)


class Fault(Exception):
    """What is wrong with the body; `field` is its path when the damage is inside one field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field} {problem}" if field else f"the body {problem}")
        self.field, self.problem = field, problem


def find_fault(descriptor: Descriptor | None, data: bytes) -> Fault | None:
    """The first fault of `data` read as `descriptor`'s message, or None when the walk finds none."""
    try:
        _fields(memoryview(data), 0, len(data), descriptor, "", 0, None)
    except Fault as fault:
        return fault
    except RecursionError:
        return Fault("", f"nests messages or groups more than {MAX_DEPTH} deep")
    return None


def _varint(data: memoryview, pos: int, end: int, path: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise Fault(path, "has a varint that is cut short or longer than 10 bytes")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _fields(data: memoryview, pos: int, end: int, descriptor: Descriptor | None, path: str, depth: int,
            group: int | None) -> int:
    """Walks the fields in data[pos:end] (up to the end tag of `group`, when reading one); returns where it
    stopped. `path` names the enclosing field, for the messages."""
    if depth > MAX_DEPTH:
        raise Fault(path.partition(".")[0], f"nests messages or groups more than {MAX_DEPTH} deep")
    while pos < end:
        tag, pos = _varint(data, pos, end, path)
        number, wire = tag >> 3, tag & 7
        field = descriptor.fields_by_number.get(number) if descriptor is not None else None
        name = f"{path}." if path else ""
        name += field.name if field is not None else f"#{number}"
        if number == 0:
            raise Fault(path, "has a field number 0, which no field has")
        if wire == END_GROUP:
            if group == number:
                return pos
            raise Fault(path, f"has an end-group tag of field {number} without its start")
        if wire == VARINT:
            _, pos = _varint(data, pos, end, name)
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
            if pos > end:
                raise Fault(name, "runs past the end of the body")
        elif wire == LENGTH:
            length, pos = _varint(data, pos, end, name)
            if pos + length > end:
                raise Fault(name, f"runs past the end of the body (its length says {length} bytes)")
            _check_value(data, pos, pos + length, field, name, depth)
            pos += length
        elif wire == START_GROUP:
            inner = field.message_type if field is not None and field.type == FieldDescriptor.TYPE_GROUP else None
            pos = _fields(data, pos, end, inner, name, depth + 1, number)
        else:
            raise Fault(name, f"uses wire type {wire}, which does not exist")
    if group is not None:
        raise Fault(path, "has a group without its end tag")
    return pos


def _check_value(data: memoryview, pos: int, end: int, field: FieldDescriptor | None, name: str, depth: int) -> None:
    if field is None:
        return  # an unknown field: kept as bytes, never parsed
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            bytes(data[pos:end]).decode("utf-8")
        except UnicodeDecodeError:
            raise Fault(name, "is not valid UTF-8") from None
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        _fields(data, pos, end, field.message_type, name, depth + 1, None)
