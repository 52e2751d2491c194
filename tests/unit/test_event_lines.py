"""The file `ativa billing import` reads: JSON lines, blank lines skipped, a BOM tolerated, each
line either an event to post (compact UTF-8 JSON) or refused here with its line number and reason;
and the rejected file written beside it."""

import json

import pytest

from workflow.cli.billing_batches import batch_id, endpoint, envelope, split_by_size
from workflow.cli.event_lines import MAX_LINE_BYTES, Event, Refused, batches, count_lines, parse
from workflow.cli.rejected_file import RejectedFile, default_path

GOOD = '{"id": "ev-1", "type": "invoice.paid", "data": {"invoice_id": "INV-1", "customer_ref": "Joao"}}'


def read_all(path, size=2):
    return [read for batch in batches(path, size) for read in batch]


def test_blank_lines_are_skipped_a_bom_tolerated_and_lines_keep_their_numbers(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode() + b"\r\n\n   \n" + GOOD.replace("ev-1", "ev-2").encode())
    reads = read_all(path)
    assert [(r.line, type(r)) for r in reads] == [(1, Event), (4, Event)]
    assert count_lines(path) == 2
    assert reads[0].text == GOOD and reads[1].id == "ev-2"
    assert json.loads(reads[0].body) == json.loads(GOOD)


def test_batches_are_size_lines_each_refused_ones_included(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([GOOD, "nope", GOOD, GOOD, "[]"]) + "\n")
    assert [[r.line for r in batch] for batch in batches(path, 2)] == [[1, 2], [3, 4], [5]]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"not json", "not JSON: Expecting value (column 1)"),
        (b'{"id": "a", "type": "invoice.paid"', "not JSON: Expecting ',' delimiter (column 35)"),
        (b"[1, 2]", "not a JSON object (an array)"),
        (b'"text"', "not a JSON object (a string)"),
        (b"null", "not a JSON object (null)"),
        (b'{"id": "a"}', "no type, data"),
        (b'{"id": 7, "type": "invoice.paid", "data": {}}', "id must be a non-empty string"),
        (b'{"id": "", "type": "invoice.paid", "data": {}}', "id must be a non-empty string"),
        (b'{"id": "a", "type": 1, "data": {}}', "type must be a string"),
        (b'{"id": "a", "type": "invoice.paid", "data": []}', "data must be an object"),
        (b'{"id": "a", "type": "invoice.paid", "data": {"amount": NaN}}', "not JSON: NaN is not JSON"),
        (b'{"id": "a\\ud800", "type": "invoice.paid", "data": {}}', "a lone surrogate (U+D800) is not text"),
        (b'{"id": "\xff", "type": "invoice.paid", "data": {}}', "not UTF-8 text (byte 0xff at position 9)"),
    ],
)
def test_a_line_that_is_no_event_is_refused_with_its_reason(raw, problem):
    read = parse(7, raw)
    assert isinstance(read, Refused) and (read.line, read.problem) == (7, problem)
    assert read.text == raw.decode("utf-8", "replace")


def test_unicode_and_nul_escapes_are_the_servers_to_judge():
    read = parse(1, '{"id": "ev-ç\\u0000", "type": "invoice.paid", "data": {"name": "João"}}'.encode())
    assert isinstance(read, Event) and read.id == "ev-ç\x00"
    assert "João".encode() in read.body


def test_an_overlong_line_is_refused_and_the_next_line_still_read(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"id": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n' + GOOD.encode() + b"\n")
    reads = read_all(path)
    assert [(r.line, type(r)) for r in reads] == [(1, Refused), (2, Event)]
    assert reads[0].problem == f"longer than {MAX_LINE_BYTES} bytes"


def test_the_rejected_file_is_json_lines_created_at_the_first_rejection(tmp_path):
    path = default_path(tmp_path / "events.jsonl")
    assert path.name == "events.jsonl.rejected.jsonl"
    with RejectedFile(path) as rejects:
        assert not path.exists() and not rejects.existed
        rejects.write(3, "unknown customer", GOOD, "ev-1")
        rejects.write(5, "lone \ud800 in a problem", "not json")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"line": 3, "id": "ev-1", "problem": "unknown customer", "text": GOOD}
    assert json.loads(lines[1])["problem"] == "lone \ud800 in a problem"  # its JSON escape, read back
    assert rejects.count == 2


def test_an_earlier_rejected_file_is_replaced_only_when_something_is_rejected(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("old\nold\n")
    with RejectedFile(path) as rejects:
        pass
    assert rejects.existed and path.read_text() == "old\nold\n"
    with RejectedFile(path) as rejects:
        rejects.write(1, "why", "text")
    assert rejects.existed and len(path.read_text().splitlines()) == 1


def test_the_batch_body_and_its_webhook_id_follow_the_content():
    body = envelope([b'{"id":"a"}', b'{"id":"b"}'])
    assert json.loads(body) == {"events": [{"id": "a"}, {"id": "b"}]}
    assert batch_id(body) == batch_id(envelope([b'{"id":"a"}', b'{"id":"b"}'])) != batch_id(envelope([b"{}"]))
    assert batch_id(body).startswith("import-") and len(batch_id(body)) == 39


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/api/v1/billing/events/batch"),
        ("https://ativa.example/prefix/", "https://ativa.example/prefix/api/v1/billing/events/batch"),
    ],
)
def test_the_endpoint_is_under_the_base_url(base, url):
    assert endpoint(base) == url


@pytest.mark.parametrize("base", ["127.0.0.1:8000", "ftp://x", "http://", "http://h:port", "http://h/?q=1"])
def test_a_base_that_is_no_http_url_is_refused(base):
    with pytest.raises(ValueError, match="is not a URL like"):
        endpoint(base)


def test_a_batch_is_split_to_fit_the_body_limit_and_an_event_too_large_alone_stands_as_its_size():
    small, large = b'{"id":"s"}', b'{"id":"' + b"x" * 80 + b'"}'
    limit = len(envelope([small, small, small]))
    assert split_by_size([small] * 3, limit) == [[small] * 3]
    assert split_by_size([small] * 4, limit) == [[small] * 3, [small]]
    assert split_by_size([small, large, small], limit) == [[small], len(large), [small]]
    assert split_by_size([large], limit) == [len(large)]
    assert split_by_size([], limit) == []
