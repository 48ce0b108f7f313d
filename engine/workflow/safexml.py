"""Parsing of untrusted XML (BPMN files uploaded in the browser).

A BPMN file never needs a DTD, and every XML entity attack (billion laughs, XXE through file:// or
http://, external DTDs, parameter entities) needs one, so any DOCTYPE is refused outright.
defusedxml.lxml is deprecated and not used; plain lxml with everything switched off is.
"""

from __future__ import annotations

import io
import re

from lxml import etree

from engine.i18n import N_

__all__ = ["UnsafeXMLError", "parse_untrusted_xml", "MAX_BYTES"]

MAX_BYTES = 2_000_000


class UnsafeXMLError(ValueError):
    """The document was refused; the message is meant for the uploader."""


class _DoctypeFound(Exception):
    pass


class _DoctypeSniffer:
    """Parser target that stops at the DOCTYPE, i.e. before any entity declaration is read (a
    normal parse would first trip over e.g. the billion laughs amplification with a less
    telling message)."""

    def doctype(self, name, pubid, system):
        raise _DoctypeFound(name)

    def start(self, tag, attrib, nsmap=None):
        pass

    def end(self, tag):
        pass

    def data(self, data):
        pass

    def close(self):
        return None


def _parser(target=None) -> etree.XMLParser:
    # Nothing is expanded, fetched or validated; huge_tree=False keeps libxml2's size limits.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, target=target)


_DOCTYPE_MSG = N_("不允许包含 DOCTYPE/DTD 或实体声明")


def _syntax_error(err: etree.XMLSyntaxError) -> UnsafeXMLError:
    msg = re.sub(r", line \d+, column \d+$", "", err.msg or "invalid XML")
    if err.lineno:
        return UnsafeXMLError(N_("XML 格式错误，第 %(line)s 行：%(error)s", line=err.lineno, error=msg))
    return UnsafeXMLError(N_("XML 格式错误：%(error)s", error=msg))


def parse_untrusted_xml(data: bytes, *, max_bytes: int = MAX_BYTES) -> etree._ElementTree:
    """Parse `data` or raise UnsafeXMLError (too large, DOCTYPE/DTD/entities, not well-formed)."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("parse_untrusted_xml expects bytes")
    if len(data) > max_bytes:
        raise UnsafeXMLError(N_("文件过大：%(size)s 字节，上限 %(limit)s 字节", size=len(data), limit=max_bytes))
    data = bytes(data)
    # Pass 1: refuse a DOCTYPE before its contents are parsed.
    try:
        etree.fromstring(data, _parser(_DoctypeSniffer()))
    except _DoctypeFound:
        raise UnsafeXMLError(_DOCTYPE_MSG) from None
    except etree.XMLSyntaxError as err:
        raise _syntax_error(err) from None
    # Pass 2: the real tree (a target parser would lose sourceline, which BPMN errors report).
    try:
        tree = etree.parse(io.BytesIO(data), _parser())
    except etree.XMLSyntaxError as err:
        raise _syntax_error(err) from None
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise UnsafeXMLError(_DOCTYPE_MSG)  # belt and braces: pass 1 should have caught it
    return tree
