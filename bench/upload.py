"""Benchmark of `sitectl upload` versus `aws s3 sync` (`make bench`), against one moto server.

A generated site (2,000 files by default, ~40 MB: nested HTML pages, fingerprinted JS/CSS, images,
fonts; `--files N` or `--large` for 20,000) is uploaded, in one run, to one `moto_server` on 127.0.0.1
whose ListObjectsV2 pages come from a sorted index, as S3's do (`bench/moto_listing.py`; moto's own,
a scan of the whole bucket per page, with `--moto-listing`):

1. Full upload: `sitectl upload` (version 1) versus `aws s3 sync` of the same tree to an empty prefix.
   Goal: no slower.
2. A second build with 2% of the files changed (1% pages edited, 1% fingerprinted JS renamed):
   `sitectl upload` (version 2) versus `aws s3 sync` of that tree to an empty prefix. Goals (issue
   29): at most 0.3x the sync's time and at most 10% of its requests.

Both tools run as subprocesses (each pays its interpreter start-up, from compiled bytecode as an
installed tool does: `warm_up`) with the same fake credentials,
through one proxy (`LinkProxy`) that counts every request by S3 operation and the bytes sent up. For
each step and tool the report gives seconds, bytes sent (sitectl's own count of request bodies, the
manifest included; for aws s3 sync, the size of the tree), requests by operation, and the process's
peak memory (its own `ru_maxrss`) and CPU seconds (user + system), then the sitectl / sync ratios;
each run's line, with the machine's load average, goes to stderr as it ends.

Without flags the proxy only counts: on loopback, bandwidth is free and moto's CPU per request sets
every time (the regression guard). `--link-mbps N --rtt-ms M` models a link: the upload direction
shared at N Mbit/s, and M ms paid once per request (see `Link`).

Writes bench/results/upload[-<files>files][-<N>mbps-<M>ms].json.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "upload.json"
BIN = Path(sys.executable).parent
BUCKET = "bench-site"
V1 = "20261127T100000Z"
V2 = "20261127T110000Z"
SEED = 20261127
CHANGED_PAGES = 20
CHANGED_ASSETS = 20
_SUMMARY = re.compile(
    r"(?P<files>\d+) files \((?P<total>\d+) bytes\): (?P<sent>\d+) sent \((?P<sent_bytes>\d+) bytes"
)


@dataclass
class Run:
    tool: str
    step: str
    seconds: float
    files_sent: int
    bytes_sent: int
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    load_average: float = 0.0  # the machine's, 1 minute, when the run ended
    wire_bytes_up: int = 0
    connections: int = 0
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    def describe(self) -> str:
        return (
            f"{self.step}, {self.tool}: {self.seconds:.1f} s ({self.cpu_seconds:.1f} s CPU), "
            f"{self.request_count} requests, {self.peak_rss_mb:.0f} MB peak, load {self.load_average:.1f}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(port: int, indexed_listing: bool = True) -> subprocess.Popen[bytes]:
    """moto's server; `indexed_listing`: with ListObjectsV2 pages from a sorted index, as S3 serves
    them, not a scan of the whole bucket per page (`bench/moto_listing.py`)."""
    command = [sys.executable, "-m", "bench.moto_listing"] if indexed_listing else [str(BIN / "moto_server")]
    server = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto_server did not start within 30 s")


class Link:
    """The modeled link's arithmetic: a shared upload bandwidth and a round trip per request.

    `reserve(size)` books `size` bytes on the upload direction, shared by every connection (one
    uplink), and returns how long to wait before sending them; `rtt` is what each request waits once
    (request out, response back). Connection set-up (TCP and TLS handshakes, paid once per pooled
    connection on S3), the download direction's bandwidth and TCP slow start are not modeled.
    """

    def __init__(
        self, megabits_per_second: float | None, rtt_ms: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if megabits_per_second is not None and megabits_per_second <= 0:
            raise ValueError(f"link bandwidth must be positive, got {megabits_per_second} Mbit/s")
        if rtt_ms < 0:
            raise ValueError(f"round trip must be 0 ms or more, got {rtt_ms} ms")
        self.bytes_per_second = megabits_per_second * 1e6 / 8 if megabits_per_second else None
        self.rtt = rtt_ms / 1000
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = clock()

    def reserve(self, size: int) -> float:
        if self.bytes_per_second is None:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + size / self.bytes_per_second
            return self._next_free - now


def s3_operation(method: str, target: str, headers: dict[str, str], bucket: str = BUCKET) -> str:
    """The S3 API operation of one request, from what is on the wire (path-style or virtual-hosted)."""
    if "x-amz-target" in headers:  # JSON APIs (SSM, STS...): the operation is named in a header
        return headers["x-amz-target"].rsplit(".", 1)[-1]
    path, _, query_string = target.partition("?")
    query = {part.split("=", 1)[0] for part in query_string.split("&") if part}
    segments = [part for part in path.split("/") if part]
    host = headers.get("host", "")
    key = bool(segments) if host.startswith(f"{bucket}.") else len(segments) > 1
    if method == "PUT":
        if "x-amz-copy-source" in headers:
            return "UploadPartCopy" if "partNumber" in query else "CopyObject"
        if "partNumber" in query:
            return "UploadPart"
        return "PutObject" if key else "CreateBucket"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        if "delete" in query:
            return "DeleteObjects"
        return "PostObject"
    if method == "GET":
        if key:
            return "ListParts" if "uploadId" in query else "GetObject"
        if "uploads" in query:
            return "ListMultipartUploads"
        if "versions" in query:
            return "ListObjectVersions"
        return "ListObjectsV2" if "list-type" in query else ("ListObjects" if segments else "ListBuckets")
    if method == "HEAD":
        return "HeadObject" if key else "HeadBucket"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return "DeleteObject" if key else "DeleteBucket"
    return method


class RequestSplitter:
    """Follows one connection's client-to-server HTTP/1.1 stream and marks where each request starts.

    `feed(data)` returns the bytes to forward as pieces `(operation, bytes)`: `operation` is set on
    the piece that begins a request (its whole header block: a request is forwarded only once its
    headers are complete, so that its round trip is paid before the server sees any of it) and None
    on body bytes. Bodies are delimited by Content-Length or chunked transfer coding.
    """

    def __init__(self, bucket: str = BUCKET) -> None:
        self.bucket = bucket
        self._buffer = b""
        self._state = "head"  # head | body | chunk-size | chunk-data | trailer
        self._remaining = 0

    def feed(self, data: bytes) -> list[tuple[str | None, bytes]]:
        pieces: list[tuple[str | None, bytes]] = []
        data = self._buffer + data
        self._buffer = b""
        while data:
            if self._state == "head":
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    self._buffer = data
                    break
                head, data = data[: end + 4], data[end + 4 :]
                pieces.append((self._start(head), head))
            elif self._state in ("body", "chunk-data"):
                piece, data = data[: self._remaining], data[self._remaining :]
                self._remaining -= len(piece)
                self._forward(pieces, piece)
                if self._remaining == 0:
                    self._state = "head" if self._state == "body" else "chunk-size"
            else:  # chunk-size or trailer: one line at a time
                end = data.find(b"\r\n")
                if end < 0:
                    self._buffer = data
                    break
                line, data = data[: end + 2], data[end + 2 :]
                self._forward(pieces, line)
                if self._state == "trailer":
                    if line == b"\r\n":
                        self._state = "head"
                elif (size := int(line.split(b";", 1)[0].strip() or b"0", 16)) > 0:
                    self._state, self._remaining = "chunk-data", size + 2  # the data, then CRLF
                else:
                    self._state = "trailer"
        return pieces

    @staticmethod
    def _forward(pieces: list[tuple[str | None, bytes]], piece: bytes) -> None:
        if pieces and pieces[-1][0] is None:
            pieces[-1] = (None, pieces[-1][1] + piece)
        else:
            pieces.append((None, piece))

    def _start(self, head: bytes) -> str:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = "chunk-size"
        else:
            self._remaining = int(headers.get("content-length", "0"))
            self._state = "body" if self._remaining else "head"
        return s3_operation(method, target, headers, self.bucket)


class LinkProxy:
    """Forwards 127.0.0.1:<port> to moto through the modeled `Link`, counting requests by S3 operation.

    Without bandwidth or round trip it only counts (the loopback runs): both tools go through it alike.
    """

    def __init__(self, upstream_port: int, link: Link) -> None:
        self.upstream_port = upstream_port
        self.link = link
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.bytes_up = 0
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> tuple[Counter[str], int, int]:
        with self._lock:
            return Counter(self.requests), self.bytes_up, self.connections

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        # moto's server (HTTP/1.0) closes each connection after its response, so both tools reconnect
        # for every request; on S3 their pools keep connections alive, so no handshake is charged.
        with self._lock:
            self.connections += 1
        try:
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump_down, args=(server, client), daemon=True).start()
        self._pump_up(client, server)

    def _pump_up(self, source: socket.socket, target: socket.socket) -> None:
        splitter = RequestSplitter()
        try:
            while chunk := source.recv(65_536):
                for operation, piece in splitter.feed(chunk):
                    if operation is not None:
                        with self._lock:
                            self.requests[operation] += 1
                        if self.link.rtt:
                            time.sleep(self.link.rtt)  # request out, response back
                    delay = self.link.reserve(len(piece))
                    if delay > 0:
                        time.sleep(delay)
                    with self._lock:
                        self.bytes_up += len(piece)
                    target.sendall(piece)
        except (OSError, ValueError):
            pass
        finally:
            _close(source, target)

    def _pump_down(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65_536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(source, target)

    def close(self) -> None:
        self.listener.close()


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _fingerprinted(directory: str, stem: str, suffix: str, body: bytes) -> tuple[str, bytes]:
    return f"{directory}/{stem}.{hashlib.sha256(body).hexdigest()[:8]}{suffix}", body


def site_shape(files: int) -> dict[str, int]:
    """How many files of each kind a site of `files` files has (2,000: 500 pages, 1,000 JS chunks...)."""
    if files < 200 or files % 200:
        raise ValueError(f"--files must be a multiple of 200, got {files}")
    unit = files // 200
    return {"pages": 50 * unit, "js": 100 * unit, "css": 30 * unit, "img": 15 * unit, "fonts": 5 * unit}


def generate_site(rng: random.Random, count: int = 2_000) -> dict[str, bytes]:
    """`count` files, about 20 kB each; content is random bytes, so nothing compresses or repeats."""
    shape = site_shape(count)
    files: dict[str, bytes] = {}
    for i in range(shape["pages"]):  # nested pages, 4-12 kB
        section, page = divmod(i, 25)
        path = "index.html" if i == 0 else f"docs/section-{section:02d}/page-{page:02d}/index.html"
        files[path] = b"<!doctype html>" + rng.randbytes(rng.randint(4_000, 12_000)).hex().encode()[:12_000]
    kinds = [
        ("js", "assets/js", "chunk-{:04d}", ".js", 10_000, 30_000),
        ("css", "assets/css", "style-{:03d}", ".css", 5_000, 25_000),
        ("img", "img", "photo-{:03d}", ".webp", 40_000, 90_000),
        ("fonts", "fonts", "face-{:02d}", ".woff2", 20_000, 60_000),
    ]
    for kind, directory, stem, suffix, low, high in kinds:
        for i in range(shape[kind]):
            body = rng.randbytes(rng.randint(low, high))
            path, body = _fingerprinted(directory, stem.format(i), suffix, body)
            files[path] = body
    assert len(files) == count, len(files)
    return files


def change_site(files: dict[str, bytes], rng: random.Random) -> dict[str, bytes]:
    """2% of the files changed: 1% pages edited in place, 1% fingerprinted JS rebuilt under new names."""
    changed = dict(files)
    per_kind = len(files) // 100
    pages = sorted(p for p in files if p.endswith(".html"))
    for path in rng.sample(pages, per_kind):
        changed[path] = files[path] + b"<!-- edited -->"
    assets = sorted(p for p in files if p.startswith("assets/js/"))
    for path in rng.sample(assets, per_kind):
        del changed[path]
        stem = Path(path).name.split(".")[0]
        new_path, body = _fingerprinted("assets/js", stem, ".js", files[path] + b"//v2")
        changed[new_path] = body
    return changed


def warm_up(work: Path, env: dict[str, str], proxy: LinkProxy, router: str) -> None:
    """Both tools start as installed ones do: from their modules' compiled bytecode (pip compiles it
    at install; any run writes it on first import). Where PYTHONDONTWRITEBYTECODE is set (this
    machine's shells, some CI images) every start would compile each module from source again, a
    second or more of CPU per run that an installed tool never pays: `env` gets a bytecode cache of
    this run's own (PYTHONPYCACHEPREFIX, under `work`), filled by one untimed run of each tool on a
    tiny tree before the rounds (each round starts on a fresh bucket)."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "bytecode")
    tiny = write_tree(
        work / "warm-up", {"index.html": b"<p>warm-up</p>", "app.0123abcd.js": b"//", "a.txt": b"a"}
    )
    aws_sync(tiny, "warm-up", "warm-up", env, proxy)
    sitectl_upload(tiny, "20261127T090000Z", "warm-up", env, proxy, router)


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, body in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root


# Runs the command after it, from a small process of its own, and prints the command's peak memory
# (kB) and CPU seconds. Linux carries a process's peak RSS across fork and exec (`maxrss` keeps the
# high-water mark of the memory the exec replaced, see getrusage(2)), so a tool started straight from
# the benchmark, which holds both trees' bytes, would report the benchmark's peak, not its own.
MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured(command: list[str], env: dict[str, str]) -> tuple[int, str, float, float]:
    """Runs `command` (its stdout discarded); its exit code, its stderr, and its own peak memory (MB)
    and CPU seconds (user + system)."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.run(
            [sys.executable, "-S", "-c", MEASURE, *command], env=env, stdout=subprocess.PIPE, stderr=stderr
        )
        stderr.seek(0)
        text = stderr.read().decode(errors="replace")
    figures = process.stdout.split()
    if len(figures) != 2:
        return process.returncode, text, 0.0, 0.0
    return process.returncode, text, int(figures[0]) / 1024, float(figures[1])  # Linux: kilobytes


def timed(command: list[str], env: dict[str, str], proxy: LinkProxy) -> tuple[float, str, Run]:
    """Runs `command`; its time, its stderr, and what it cost: requests, wire bytes, peak memory, CPU."""
    requests_before, bytes_before, connections_before = proxy.snapshot()
    start = time.perf_counter()
    returncode, text, peak_mb, cpu_seconds = measured(command, env)
    seconds = time.perf_counter() - start
    if returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed ({returncode}): {text.strip()[-500:]}")
    requests_after, bytes_after, connections_after = proxy.snapshot()
    cost = Run(
        tool="",
        step="",
        seconds=seconds,
        files_sent=0,
        bytes_sent=0,
        peak_rss_mb=peak_mb,
        cpu_seconds=cpu_seconds,
        wire_bytes_up=bytes_after - bytes_before,
        connections=connections_after - connections_before,
        requests=dict(sorted((requests_after - requests_before).items())),
    )
    return seconds, text, cost


def sitectl_upload(
    tree: Path, version: str, step: str, env: dict[str, str], proxy: LinkProxy, router: str = "lambda-edge"
) -> Run:
    command = [str(BIN / "sitectl"), "--bucket", BUCKET, "upload", str(tree), "--version", version]
    seconds, stderr, cost = timed([*command, "--router", router], env, proxy)
    match = _SUMMARY.search(stderr)
    if match is None:
        raise SystemExit(f"no summary in the sitectl output: {stderr[-300:]}")
    cost.tool, cost.step = "sitectl upload", step
    cost.files_sent, cost.bytes_sent = int(match["sent"]), int(match["sent_bytes"])
    return cost


def aws_sync(tree: Path, prefix: str, step: str, env: dict[str, str], proxy: LinkProxy) -> Run:
    endpoint = f"http://127.0.0.1:{proxy.port}"
    command = [
        str(BIN / "aws"),
        "s3",
        "sync",
        str(tree),
        f"s3://{BUCKET}/{prefix}/",
        "--endpoint-url",
        endpoint,
    ]
    _, _, cost = timed([*command, "--only-show-errors"], env, proxy)
    files = [p for p in tree.rglob("*") if p.is_file()]
    cost.tool, cost.step = "aws s3 sync", step
    cost.files_sent, cost.bytes_sent = len(files), sum(p.stat().st_size for p in files)
    return cost


STEPS = ("full", "2% changed")
TOOLS = ("aws s3 sync", "sitectl upload")


def summarize(runs: list[Run]) -> dict[str, dict[str, dict[str, float | dict[str, float]]]]:
    """Medians per step and tool: seconds, bytes, requests (in all and by S3 operation), peak memory."""
    table: dict[str, dict[str, dict[str, float | dict[str, float]]]] = {}
    for step in STEPS:
        table[step] = {}
        for tool in TOOLS:
            mine = [r for r in runs if r.tool == tool and r.step == step]
            operations = sorted({op for r in mine for op in r.requests})
            table[step][tool] = {
                "seconds": statistics.median(r.seconds for r in mine),
                "bytes_sent": statistics.median(r.bytes_sent for r in mine),
                "wire_bytes_up": statistics.median(r.wire_bytes_up for r in mine),
                "requests": statistics.median(r.request_count for r in mine),
                "connections": statistics.median(r.connections for r in mine),
                "peak_rss_mb": statistics.median(r.peak_rss_mb for r in mine),
                "cpu_seconds": statistics.median(r.cpu_seconds for r in mine),
                "by_operation": {
                    op: statistics.median(r.requests.get(op, 0) for r in mine) for op in operations
                },
            }
        ours, sync = table[step]["sitectl upload"], table[step]["aws s3 sync"]
        table[step]["sitectl / sync"] = {
            name: float(ours[name]) / float(sync[name]) if sync[name] else float("inf")  # type: ignore[arg-type]
            for name in ("seconds", "bytes_sent", "wire_bytes_up", "requests")
        }
    return table


def goals(table: dict[str, dict[str, dict[str, float | dict[str, float]]]]) -> dict[str, bool]:
    """Issue 29's goals, each a ratio against aws s3 sync of the same tree into an empty prefix."""
    full, changed = table["full"]["sitectl / sync"], table["2% changed"]["sitectl / sync"]
    return {
        "full upload no slower than aws s3 sync": float(full["seconds"]) <= 1.0,  # type: ignore[arg-type]
        "2%-changed release at most 0.3x the sync's time": float(changed["seconds"]) <= 0.3,  # type: ignore[arg-type]
        "2%-changed release at most 10% of the sync's requests": float(changed["requests"]) <= 0.1,  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeat",
        type=int,
        help="Rounds, each on a fresh bucket (medians). Default 2, and 1 from 20,000 files (a round of "
        "20,000 takes 15 minutes or more on 2 CPUs, most of it moto's).",
    )
    parser.add_argument("--files", type=int, default=2_000, help="Files in the site (a multiple of 200).")
    parser.add_argument("--large", action="store_true", help="A 20,000-file site (about 420 MB).")
    parser.add_argument("--link-mbps", type=float, help="Model an upload link of this many Mbit/s.")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="Model this round trip per request (ms).")
    parser.add_argument(
        "--router",
        choices=("lambda-edge", "cloudfront-function"),
        default="lambda-edge",
        help="The router the versions are for (`sitectl upload --router`): lambda-edge stores unchanged "
        "files once, by content; cloudfront-function copies those that are not fingerprinted.",
    )
    parser.add_argument(
        "--moto-listing",
        action="store_true",
        help="moto's own ListObjectsV2 (a scan and sort of the whole bucket per page) instead of the "
        "sorted index S3's pages are like (bench/moto_listing.py).",
    )
    args = parser.parse_args()
    count = 20_000 if args.large else args.files
    args.repeat = args.repeat or (1 if count >= 20_000 else 2)
    try:
        site_shape(count)
        link = Link(args.link_mbps, args.rtt_ms)
    except ValueError as error:
        parser.error(str(error))

    port = free_port()
    moto_endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PYTHONWARNINGS": "ignore",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "SITE_BUCKET", "SITE_STACK"):
        env.pop(name, None)

    rng = random.Random(SEED)
    v1_files = generate_site(rng, count)
    v2_files = change_site(v1_files, rng)
    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    server = start_moto(port, indexed_listing=not args.moto_listing)
    proxy = LinkProxy(port, link)
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{proxy.port}"
    runs: list[Run] = []
    load_before = os.getloadavg()
    try:
        v1 = write_tree(work / "v1", v1_files)
        v2 = write_tree(work / "v2", v2_files)
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=moto_endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        s3.create_bucket(Bucket=BUCKET)
        warm_up(work, env, proxy, args.router)
        for round_number in range(args.repeat):
            urllib.request.urlopen(
                urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
            ).close()
            s3.create_bucket(Bucket=BUCKET)
            print(f"round {round_number + 1}/{args.repeat}", file=sys.stderr, flush=True)
            # Interleaved, so that neither tool always runs on a warmer server.
            for run in (
                lambda: aws_sync(v1, "sync-v1", "full", env, proxy),
                lambda: sitectl_upload(v1, V1, "full", env, proxy, args.router),
                lambda: sitectl_upload(v2, V2, "2% changed", env, proxy, args.router),
                lambda: aws_sync(v2, "sync-v2", "2% changed", env, proxy),
            ):
                runs.append(run())
                runs[-1].load_average = os.getloadavg()[0]
                print(f"  {runs[-1].describe()}", file=sys.stderr, flush=True)
    finally:
        proxy.close()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()

    table = summarize(runs)
    met = goals(table)
    full_bytes = sum(len(b) for b in v1_files.values())
    link_text = (
        "loopback (no link modeled)"
        if args.link_mbps is None and not args.rtt_ms
        else f"link {args.link_mbps or 'unlimited'} Mbit/s up, {args.rtt_ms:g} ms round trip"
    )
    results = {
        "command": " ".join(["python", "bench/upload.py", *sys.argv[1:]]),
        "site": {"files": len(v1_files), "bytes": full_bytes, "changed_files": 2 * (len(v1_files) // 100)},
        "rounds": args.repeat,
        "router": args.router,
        "link_mbps": args.link_mbps,
        "rtt_ms": args.rtt_ms,
        "steps": table,
        "goals": met,
        "runs": [asdict(r) for r in runs],
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "load_average_1m_before_after": [load_before[0], load_after[0]],
        },
    }
    suffix = f"-{count}files" if count != 2_000 else ""
    if args.link_mbps or args.rtt_ms:
        suffix += f"-{args.link_mbps or 0:g}mbps-{args.rtt_ms:g}ms"
    if args.router != "lambda-edge":
        suffix += f"-{args.router}"
    results_file = RESULTS.with_name(f"upload{suffix}.json")
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2) + "\n")

    print(
        f"\nsite: {len(v1_files)} files, {full_bytes / 1e6:.1f} MB; moto_server on 127.0.0.1; {link_text}; "
        f"for {args.router}; "
        f"{args.repeat} round(s); load average {load_before[0]:.1f} -> {load_after[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"{'step':<12}{'tool':<16}{'seconds':>9}{'CPU s':>8}{'MB sent':>9}{'requests':>10}{'peak MB':>9}"
        "  by operation"
    )
    for step in STEPS:
        for tool in TOOLS:
            row = table[step][tool]
            operations = ", ".join(f"{op} {n:g}" for op, n in row["by_operation"].items())  # type: ignore[union-attr]
            print(
                f"{step:<12}{tool:<16}{row['seconds']:>9.2f}{row['cpu_seconds']:>8.1f}"
                f"{float(row['bytes_sent']) / 1e6:>9.2f}"  # type: ignore[arg-type]
                f"{row['requests']:>10.0f}{row['peak_rss_mb']:>9.0f}  {operations}"
            )
        ratio = table[step]["sitectl / sync"]
        print(
            f"{step:<12}{'sitectl / sync':<16}{ratio['seconds']:>9.3f}{'':>8}{ratio['bytes_sent']:>9.3f}"
            f"{ratio['requests']:>10.3f}"
        )
    for goal, ok in met.items():
        print(f"{'met   ' if ok else 'MISSED'} {goal}")
    print(f"\nwritten to {results_file.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
