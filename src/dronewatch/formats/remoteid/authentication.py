"""Joining the pages of one Remote ID authentication (signature) into its data.

data = page 0 bytes 8-24 + page 1 bytes 2-24 + ... + last page bytes 2-24, cut to
``length``. Since F3411 v1.1 a non-zero byte right after those ``length`` bytes counts
optional extra bytes that follow (forward error correction on Bluetooth 4); the pages must
hold them too. Page 0 with a last page index of 16 or more, or a length beyond the pages'
capacity (17 + 23 per further page), is rejected as the reference decoder does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dronewatch.errors import DecodeError, EncodeError
from dronewatch.formats.remoteid.enums import AuthType
from dronewatch.formats.remoteid.messages import Authentication

MAX_PAGES = 16
FIRST_PAGE_DATA = 17
PAGE_DATA = 23


@dataclass(frozen=True, slots=True)
class Signature:
    """A complete authentication: type, page 0's timestamp, its data and any extra data."""

    auth_type: AuthType | None
    timestamp: float | None
    data: bytes
    extra: bytes = b""


def capacity(last_page_index: int) -> int:
    """Data bytes the pages 0..``last_page_index`` hold."""
    return FIRST_PAGE_DATA + PAGE_DATA * last_page_index


def join_pages(pages: Iterable[Authentication]) -> Signature:
    """The signature of a complete set of pages (any order, repeats allowed if identical)."""
    by_number: dict[int, Authentication] = {}
    for page in pages:
        if by_number.setdefault(page.page, page) != page:
            raise DecodeError(f"authentication page {page.page} arrived twice with different content", offset=1)
    first = by_number.get(0)
    if first is None or first.last_page_index is None or first.length is None:
        raise DecodeError("authentication: page 0 is missing", offset=1)
    last = first.last_page_index
    if last >= MAX_PAGES:
        raise DecodeError(f"authentication: last page index {last}, at most {MAX_PAGES - 1}", offset=2)
    if first.length > capacity(last):
        raise DecodeError(f"authentication: length {first.length} exceeds the {capacity(last)} bytes "
                          f"of {last + 1} page(s)", offset=3)
    missing = [n for n in range(last + 1) if n not in by_number]
    if missing:
        raise DecodeError(f"authentication: page(s) {', '.join(map(str, missing))} of 0-{last} missing", offset=1)
    beyond = sorted(n for n in by_number if n > last)
    if beyond:
        raise DecodeError(f"authentication: page {beyond[0]} beyond the last page index {last}", offset=1)
    types = {page.auth_type for page in by_number.values()}
    if len(types) > 1:
        raise DecodeError("authentication: pages of different authentication types", offset=1)
    joined = first.data[:FIRST_PAGE_DATA].ljust(FIRST_PAGE_DATA, b"\0") + b"".join(
        by_number[n].data[:PAGE_DATA].ljust(PAGE_DATA, b"\0") for n in range(1, last + 1))
    data = joined[:first.length]
    extra = b""
    if first.length < len(joined) and joined[first.length]:
        count = joined[first.length]
        start = first.length + 1
        if start + count > len(joined):
            raise DecodeError(f"authentication: {count} extra bytes do not fit in {last + 1} page(s)", offset=1)
        extra = joined[start:start + count]
    return Signature(first.auth_type, first.timestamp, data, extra)


def split_pages(signature: Signature, protocol_version: int = 2) -> list[Authentication]:
    """The pages that carry ``signature`` (the inverse of :func:`join_pages`)."""
    body = signature.data + (bytes([len(signature.extra)]) + signature.extra if signature.extra else b"")
    if len(signature.data) > 255 or len(signature.extra) > 255:
        raise EncodeError("authentication: data and extra data are at most 255 bytes each")
    last = max(0, -(-(len(body) - FIRST_PAGE_DATA) // PAGE_DATA))
    if last >= MAX_PAGES:
        raise EncodeError(f"authentication: {len(body)} bytes need more than {MAX_PAGES} pages")
    chunks = [body[:FIRST_PAGE_DATA]] + [body[FIRST_PAGE_DATA + PAGE_DATA * k:FIRST_PAGE_DATA + PAGE_DATA * (k + 1)]
                                         for k in range(last)]
    return [Authentication(protocol_version=protocol_version, auth_type=signature.auth_type, page=n,
                           last_page_index=last if n == 0 else None, length=len(signature.data) if n == 0 else None,
                           timestamp=signature.timestamp if n == 0 else None, data=chunk)
            for n, chunk in enumerate(chunks)]
