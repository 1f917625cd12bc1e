"""The upload benchmark's own logic (`bench/upload.py`): the link model's arithmetic, how requests are
split out of a connection's byte stream and named by S3 operation, and the per-step ratios. Nothing
here is timed: the link runs on a manual clock and no server is started."""

from __future__ import annotations

import random
import sys

import pytest

from bench.upload import (
    Link,
    RequestSplitter,
    Run,
    change_site,
    generate_site,
    goals,
    measured,
    s3_operation,
    site_shape,
    summarize,
)
from tests.clock import ManualClock


def test_link_bandwidth_is_shared_and_booked_back_to_back() -> None:
    clock = ManualClock()
    link = Link(50, 30, clock)  # 50 Mbit/s = 6.25 MB/s
    assert link.rtt == pytest.approx(0.030)
    assert link.reserve(625_000) == pytest.approx(0.1)
    # A second connection sending at the same instant queues behind the first (one uplink).
    assert link.reserve(625_000) == pytest.approx(0.2)
    clock.advance(1.0)  # the link went idle: no debt carried over
    assert link.reserve(62_500) == pytest.approx(0.01)


def test_link_without_bandwidth_never_waits_and_bad_figures_are_refused() -> None:
    assert Link(None, 0, ManualClock()).reserve(10**9) == 0.0
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        Link(0, 30)
    with pytest.raises(ValueError, match="round trip must be 0 ms or more"):
        Link(50, -1)


@pytest.mark.parametrize(
    ("method", "target", "headers", "operation"),
    [
        ("PUT", "/bench-site/v1/index.html", {}, "PutObject"),
        ("PUT", "/bench-site/v1/a.js", {"x-amz-copy-source": "bench-site/v0/a.js"}, "CopyObject"),
        ("PUT", "/bench-site/k?partNumber=2&uploadId=x", {}, "UploadPart"),
        ("PUT", "/bench-site/k?partNumber=2&uploadId=x", {"x-amz-copy-source": "b/k"}, "UploadPartCopy"),
        ("PUT", "/bench-site", {}, "CreateBucket"),
        ("POST", "/bench-site/k?uploads", {}, "CreateMultipartUpload"),
        ("POST", "/bench-site/k?uploadId=x", {}, "CompleteMultipartUpload"),
        ("POST", "/bench-site?delete", {}, "DeleteObjects"),
        ("GET", "/bench-site?list-type=2&prefix=v1%2F", {}, "ListObjectsV2"),
        ("GET", "/bench-site/_manifests/v1.json", {}, "GetObject"),
        ("HEAD", "/bench-site/_claims/v1.json", {}, "HeadObject"),
        ("HEAD", "/bench-site", {}, "HeadBucket"),
        ("DELETE", "/bench-site/v1/stray", {}, "DeleteObject"),
        ("DELETE", "/bench-site/k?uploadId=x", {}, "AbortMultipartUpload"),
        # Virtual-hosted style: the bucket is in the Host header, the path is the key.
        ("PUT", "/index.html", {"host": "bench-site.s3.example"}, "PutObject"),
        ("GET", "/?list-type=2", {"host": "bench-site.s3.example"}, "ListObjectsV2"),
        ("POST", "/", {"x-amz-target": "AmazonSSM.GetParameter"}, "GetParameter"),
    ],
)
def test_s3_operation_names_each_request(
    method: str, target: str, headers: dict[str, str], operation: str
) -> None:
    assert s3_operation(method, target, headers) == operation


def _operations(pieces: list[tuple[str | None, bytes]]) -> list[str]:
    return [op for op, _ in pieces if op is not None]


def test_splitter_counts_pipelined_requests_fed_a_byte_at_a_time() -> None:
    stream = (
        b"PUT /bench-site/v1/a.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"PUT /bench-site/v1/b.js HTTP/1.1\r\nx-amz-copy-source: bench-site/v0/b.js\r\n"
        b"Content-Length: 0\r\n\r\n"
        b"GET /bench-site?list-type=2 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    splitter = RequestSplitter()
    pieces = [piece for i in range(len(stream)) for piece in splitter.feed(stream[i : i + 1])]
    assert _operations(pieces) == ["PutObject", "CopyObject", "ListObjectsV2"]
    assert b"".join(body for _, body in pieces) == stream  # every byte forwarded once, in order
    # A request's header block is forwarded whole, as the piece that carries its operation, so that
    # its round trip is paid before the server sees any of it.
    copy_head = b"PUT /bench-site/v1/b.js HTTP/1.1\r\nx-amz-copy-source: bench-site/v0/b.js\r\n"
    assert [body for op, body in pieces if op == "CopyObject"] == [copy_head + b"Content-Length: 0\r\n\r\n"]


def test_splitter_follows_chunked_bodies_that_look_like_requests() -> None:
    body = b"GET /bench-site/x HTTP/1.1\r\n\r\n"  # inside a body: not a request
    stream = (
        b"PUT /bench-site/v1/c.css HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x};ext=1\r\n".encode()
        + body
        + b"\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n"
        + b"HEAD /bench-site/_claims/v1.json HTTP/1.1\r\n\r\n"
    )
    splitter = RequestSplitter()
    pieces = splitter.feed(stream[:70]) + splitter.feed(stream[70:])
    assert _operations(pieces) == ["PutObject", "HeadObject"]
    assert b"".join(piece for _, piece in pieces) == stream


def test_splitter_holds_an_incomplete_header_block() -> None:
    splitter = RequestSplitter()
    assert splitter.feed(b"GET /bench-site/k HTTP/1.1\r\nHost:") == []
    assert _operations(splitter.feed(b" x\r\n\r\n")) == ["GetObject"]


def test_site_shape_and_the_two_percent_change() -> None:
    assert site_shape(2_000) == {"pages": 500, "js": 1_000, "css": 300, "img": 150, "fonts": 50}
    assert sum(site_shape(20_000).values()) == 20_000
    with pytest.raises(ValueError, match="multiple of 200"):
        site_shape(300)
    rng = random.Random(1)
    v1 = generate_site(rng, 400)
    v2 = change_site(v1, rng)
    assert len(v1) == len(v2) == 400
    edited = {p for p in v1 if p in v2 and v1[p] != v2[p]}
    renamed = set(v2) - set(v1)
    assert len(edited) == 4 and all(p.endswith(".html") for p in edited)
    assert len(renamed) == 4 and all(p.startswith("assets/js/") for p in renamed)


def _run(tool: str, step: str, seconds: float, requests: dict[str, int]) -> Run:
    return Run(tool, step, seconds, files_sent=1, bytes_sent=1_000, requests=requests)


def test_summary_takes_medians_and_ratios_per_step_and_judges_the_goals() -> None:
    runs = [
        _run("aws s3 sync", "full", 10, {"PutObject": 100, "ListObjectsV2": 1}),
        _run("aws s3 sync", "full", 12, {"PutObject": 100, "ListObjectsV2": 1}),
        _run("sitectl upload", "full", 9, {"PutObject": 102, "CopyObject": 75}),
        _run("sitectl upload", "full", 11, {"PutObject": 102, "CopyObject": 75}),
        _run("aws s3 sync", "2% changed", 10, {"PutObject": 100}),
        _run("sitectl upload", "2% changed", 2, {"PutObject": 4, "CopyObject": 6}),
    ]
    table = summarize(runs)
    assert table["full"]["sitectl upload"]["seconds"] == 10
    assert table["full"]["sitectl upload"]["by_operation"] == {"CopyObject": 75, "PutObject": 102}
    assert table["full"]["sitectl / sync"]["seconds"] == pytest.approx(10 / 11)
    assert table["full"]["sitectl / sync"]["requests"] == pytest.approx(177 / 101)
    assert table["2% changed"]["sitectl / sync"]["requests"] == pytest.approx(0.1)
    assert goals(table) == {
        "full upload no slower than aws s3 sync": True,
        "2%-changed release at most 0.3x the sync's time": True,
        "2%-changed release at most 10% of the sync's requests": True,
    }
    runs[-1] = _run("sitectl upload", "2% changed", 4, {"PutObject": 4, "CopyObject": 7})
    assert not any(list(goals(summarize(runs)).values())[1:])


def test_a_tool_s_peak_memory_is_its_own_not_the_benchmark_s() -> None:
    """The benchmark holds both trees' bytes; a tool it starts must not report that as its peak
    (Linux keeps the high-water mark across fork and exec)."""
    held = b"\x01" * 150_000_000  # the benchmark's trees
    tool = (
        "import sys; block = b'\\x02' * 40_000_000; print('to stdout'); sys.stderr.write('said'); sys.exit(3)"
    )
    returncode, stderr, peak_mb, cpu_seconds = measured([sys.executable, "-S", "-c", tool], {})
    assert len(held) == 150_000_000
    assert (returncode, stderr) == (3, "said")
    assert 40 <= peak_mb < 100, peak_mb
    assert cpu_seconds > 0
