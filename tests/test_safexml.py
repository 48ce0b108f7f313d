"""Parsing of uploaded BPMN files (engine/workflow/safexml.py)."""

import http.server
import threading
from pathlib import Path

import pytest
from engine.workflow.parser import ProcessParser

from engine.i18n import render, translator
from engine.workflow.safexml import UnsafeXMLError, parse_untrusted_xml

BPMN_FILE = Path(__file__).resolve().parent.parent / "processes" / "item_handling.bpmn"
DOCTYPE_REFUSED = "DOCTYPE, DTD and entity declarations are not allowed"


@pytest.fixture
def http_server():
    """A local HTTP server recording every request, to prove nothing is fetched."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'<!ENTITY leak "fetched">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def refused(data, **kw) -> str:
    with pytest.raises(UnsafeXMLError) as info:
        parse_untrusted_xml(data, **kw)
    # Chinese as raised, then the English the catalog gives it (the message is a catalog string)
    message = f"{info.value} / {render(info.value.args[0], translator('en'))}"
    assert "Traceback" not in message and 'File "' not in message
    # no chained lxml exception either, so logs show just the message
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)
    return message


def test_good_bpmn_parses_and_feeds_the_bpmn_parser():
    tree = parse_untrusted_xml(BPMN_FILE.read_bytes())
    root = tree.getroot()
    assert root.tag == "{http://www.omg.org/spec/BPMN/20100524/MODEL}definitions"
    assert root.sourceline == 2  # line numbers survive, BPMN validation errors need them
    parser = ProcessParser()  # the deployment's parser (Camunda multi-instance on a sub-process too)
    parser.add_bpmn_xml(root, "item_handling.bpmn")
    assert parser.get_spec("item_handling").name == "item_handling"


def test_doctype_words_inside_cdata_or_comments_are_fine():
    tree = parse_untrusted_xml(b"<a><!-- <!DOCTYPE x> --><b><![CDATA[<!DOCTYPE html><!ENTITY x 'y'>]]></b></a>")
    assert tree.getroot().find("b").text == "<!DOCTYPE html><!ENTITY x 'y'>"


def billion_laughs(in_attribute=False) -> bytes:
    decls = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)]
    body = '<lolz a="&lol9;"/>' if in_attribute else "<lolz>&lol9;</lolz>"
    return ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(decls) + "\n]>\n" + body).encode()


@pytest.mark.parametrize("in_attribute", [False, True])
def test_billion_laughs_is_refused(in_attribute):
    assert DOCTYPE_REFUSED in refused(billion_laughs(in_attribute))


def test_xxe_file_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = (f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
            "<d>&xxe;</d>").encode()
    message = refused(data)
    assert DOCTYPE_REFUSED in message and "TOP-SECRET" not in message


def test_xxe_http_entity_is_refused_without_fetching(http_server):
    url, hits = http_server
    data = f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "{url}/e">]>\n<d>&xxe;</d>'.encode()
    assert DOCTYPE_REFUSED in refused(data)
    data = f'<!DOCTYPE d [<!ENTITY % pe SYSTEM "{url}/pe"> %pe;]>\n<d>&leak;</d>'.encode()
    assert DOCTYPE_REFUSED in refused(data)
    assert hits == []


def test_external_dtd_is_refused_without_fetching(http_server):
    url, hits = http_server
    data = f'<?xml version="1.0"?>\n<!DOCTYPE d SYSTEM "{url}/d.dtd">\n<d/>'.encode()
    assert DOCTYPE_REFUSED in refused(data)
    data = b'<!DOCTYPE d PUBLIC "-//X//DTD X//EN" "file:///etc/passwd">\n<d/>'
    assert DOCTYPE_REFUSED in refused(data)
    assert hits == []


def test_doctype_in_utf16_is_refused():
    data = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE d [<!ENTITY x "y">]>\n<d>&x;</d>'.encode("utf-16")
    assert DOCTYPE_REFUSED in refused(data)


def test_oversize_file_is_refused():
    data = b"<a>" + b"x" * 2_000_000 + b"</a>"
    message = refused(data)
    assert "file too large: 2000007 bytes, limit 2000000" in message
    assert "file too large" in refused(b"<a>0123456789</a>", max_bytes=10)
    assert parse_untrusted_xml(b"<a>0123456789</a>", max_bytes=17).getroot().text == "0123456789"


@pytest.mark.parametrize("data,line", [
    (b'<?xml version="1.0"?>\n<a>\n  <b>\n</a>', 4),
    (b"<a>\n<b attr=noquotes/></a>", 2),
    (b"not xml at all", 1),
    (b"", 1),
    (b"<a></a><b/>", 1),
])
def test_broken_xml_is_refused_with_line_number(data, line):
    message = refused(data)
    assert f"malformed XML at line {line}:" in message and f"第 {line} 行" in message


def test_non_bytes_are_rejected():
    with pytest.raises(TypeError):
        parse_untrusted_xml("<a/>")
