"""Guard against a bad release of the bindings: Dstl's v2.0 protos, compiled here with grpcio-tools,
must describe the same messages as the installed ``sapient_msg`` package (PyPI ``sapient-proto``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import grpc_tools
import sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2  # noqa: F401  (loads every file into the pool)
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_tools import protoc
from sapient_msg import proto_options_pb2

ROOT = Path(__file__).resolve().parents[2] / "data" / "interop" / "sapient"
FIELD_OPTIONS: Any = proto_options_pb2.field_options
ONEOF_OPTIONS: Any = proto_options_pb2.oneof_options
ENUM_OPTIONS: Any = proto_options_pb2.enum_options
FILE_OPTIONS: Any = proto_options_pb2.file_options


def compiled() -> descriptor_pb2.FileDescriptorSet:
    files = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("sapient_msg/**/*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sapient.pb"
        assert protoc.main(["protoc", f"-I{ROOT}", f"-I{include}", f"--descriptor_set_out={out}", *files]) == 0
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _options(options: Any, extension: Any) -> str:
    return str(options.Extensions[extension]).replace("\n", " ").strip() or "{}"


def _compare_enum(where: str, dstl: Any, ours: Any, out: list[str]) -> None:
    a = [(v.name, v.number, _options(v.options, ENUM_OPTIONS)) for v in dstl.value]
    b = [(v.name, v.number, _options(v.options, ENUM_OPTIONS)) for v in ours.value]
    if a != b:
        out.append(f"{where}: enum values differ: {a} vs {b}")


def _compare_message(where: str, dstl: Any, ours: Any, out: list[str]) -> None:
    if [o.name for o in dstl.oneof_decl] != [o.name for o in ours.oneof_decl]:
        out.append(f"{where}: oneofs differ")
    for a, b in zip(dstl.oneof_decl, ours.oneof_decl, strict=False):
        if _options(a.options, ONEOF_OPTIONS) != _options(b.options, ONEOF_OPTIONS):
            out.append(f"{where}.{a.name}: oneof options differ")
    fields_a = {f.name: f for f in dstl.field}
    fields_b = {f.name: f for f in ours.field}
    if list(fields_a) != list(fields_b):
        out.append(f"{where}: fields differ: {list(fields_a)} vs {list(fields_b)}")
    for name in fields_a.keys() & fields_b.keys():
        a, b = fields_a[name], fields_b[name]
        shape_a = (a.number, a.type, a.type_name, a.label == a.LABEL_REPEATED, a.proto3_optional,
                   a.HasField("oneof_index") and a.oneof_index)
        shape_b = (b.number, b.type, b.type_name, b.label == b.LABEL_REPEATED, b.proto3_optional,
                   b.HasField("oneof_index") and b.oneof_index)
        if shape_a != shape_b:
            out.append(f"{where}.{name}: field differs: {shape_a} vs {shape_b}")
        if _options(a.options, FIELD_OPTIONS) != _options(b.options, FIELD_OPTIONS):
            out.append(f"{where}.{name}: options differ: Dstl {_options(a.options, FIELD_OPTIONS)} vs installed "
                       f"{_options(b.options, FIELD_OPTIONS)}")
    _compare_types(where, dstl.nested_type, ours.nested_type, dstl.enum_type, ours.enum_type, out)


def _compare_types(where: str, messages_a: Any, messages_b: Any, enums_a: Any, enums_b: Any, out: list[str]) -> None:
    if [m.name for m in messages_a] != [m.name for m in messages_b]:
        out.append(f"{where}: message types differ: {[m.name for m in messages_a]} vs {[m.name for m in messages_b]}")
    if [e.name for e in enums_a] != [e.name for e in enums_b]:
        out.append(f"{where}: enums differ")
    for a, b in zip(messages_a, messages_b, strict=False):
        _compare_message(f"{where}.{a.name}", a, b, out)
    for a, b in zip(enums_a, enums_b, strict=False):
        _compare_enum(f"{where}.{a.name}", a, b, out)


def test_installed_bindings_match_dstl_protos() -> None:
    files = compiled().file
    assert len(files) == 17
    pool = descriptor_pool.Default()
    differences: list[str] = []
    types = 0
    for dstl in files:
        ours = descriptor_pb2.FileDescriptorProto()
        pool.FindFileByName(dstl.name).CopyToProto(ours)
        assert (ours.package, list(ours.dependency)) == (dstl.package, list(dstl.dependency)), dstl.name
        if _options(dstl.options, FILE_OPTIONS) != _options(ours.options, FILE_OPTIONS):
            differences.append(f"{dstl.name}: file options differ")
        _compare_types(dstl.package, dstl.message_type, ours.message_type, dstl.enum_type, ours.enum_type,
                       differences)
        types += _count(dstl.message_type) + len(dstl.enum_type)
    assert types == 96  # message and enum types, nested ones included, in the 17 files
    # the one known difference: sapient-proto marks Error.error_message mandatory (a newer upstream revision?)
    assert differences == ["sapient_msg.bsi_flex_335_v2_0.Error.error_message: options differ: Dstl {} vs installed "
                           "is_mandatory: true"]


def _count(messages: Any) -> int:
    return sum(1 + _count(m.nested_type) + len(m.enum_type) for m in messages)
