"""Benchmark of `sitectl upload` versus `aws s3 sync` (`make bench`), against one moto server.

A generated site of 2,000 files (~40 MB: nested HTML pages, fingerprinted JS/CSS, images, fonts) is
uploaded, in one run, to one `moto_server` process on 127.0.0.1:

1. Full upload: `sitectl upload` (version 1) versus `aws s3 sync` of the same tree to a new prefix.
   Goal: no slower.
2. A second build with 2% of the files changed (20 pages edited, 20 fingerprinted assets renamed):
   `sitectl upload` (version 2, unchanged files copied server-side) versus `aws s3 sync` of that tree
   to a new prefix. Goals: at most 5% of the bytes of a full upload, at most 0.3 of the sync time.

Both tools run as subprocesses (each pays its interpreter start-up) with the same fake credentials
and `AWS_ENDPOINT_URL`. Bytes are those sent in request bodies: sitectl's own count (every PutObject
body, the manifest included) and, for aws s3 sync, the size of the tree it uploads.

On loopback, bandwidth is free and moto's CPU per request (about the same for a CopyObject as for a
20 kB PutObject) sets every time. `--link-mbps N` puts a TCP proxy limiting the upload direction to
N Mbit/s between both tools and moto, to see the same comparison over a network link.

Prints a table and writes bench/results/upload.json.
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
from dataclasses import asdict, dataclass
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
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


class ThrottlingProxy:
    """Forwards 127.0.0.1:<port> to moto, limiting client-to-server bytes to a shared rate."""

    def __init__(self, upstream_port: int, megabits_per_second: float) -> None:
        self.upstream_port = upstream_port
        self.bytes_per_second = megabits_per_second * 1e6 / 8
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self._next_free = time.monotonic()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _wait_for(self, size: int) -> None:
        with self._lock:
            start = max(time.monotonic(), self._next_free)
            self._next_free = start + size / self.bytes_per_second
        delay = self._next_free - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _pump(self, source: socket.socket, target: socket.socket, throttled: bool) -> None:
        try:
            while chunk := source.recv(16_384):
                if throttled:
                    self._wait_for(len(chunk))
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def _fingerprinted(directory: str, stem: str, suffix: str, body: bytes) -> tuple[str, bytes]:
    return f"{directory}/{stem}.{hashlib.sha256(body).hexdigest()[:8]}{suffix}", body


def generate_site(rng: random.Random) -> dict[str, bytes]:
    """2,000 files, about 40 MB; content is random bytes, so nothing compresses or repeats."""
    files: dict[str, bytes] = {}
    for i in range(500):  # nested pages, 4-12 kB
        section, page = divmod(i, 25)
        path = "index.html" if i == 0 else f"docs/section-{section:02d}/page-{page:02d}/index.html"
        files[path] = b"<!doctype html>" + rng.randbytes(rng.randint(4_000, 12_000)).hex().encode()[:12_000]
    for i in range(1_000):  # JS chunks, 10-30 kB
        path, body = _fingerprinted(
            "assets/js", f"chunk-{i:04d}", ".js", rng.randbytes(rng.randint(10_000, 30_000))
        )
        files[path] = body
    for i in range(300):  # stylesheets, 5-25 kB
        path, body = _fingerprinted(
            "assets/css", f"style-{i:03d}", ".css", rng.randbytes(rng.randint(5_000, 25_000))
        )
        files[path] = body
    for i in range(150):  # images, 40-90 kB
        path, body = _fingerprinted(
            "img", f"photo-{i:03d}", ".webp", rng.randbytes(rng.randint(40_000, 90_000))
        )
        files[path] = body
    for i in range(50):  # fonts, 20-60 kB
        path, body = _fingerprinted(
            "fonts", f"face-{i:02d}", ".woff2", rng.randbytes(rng.randint(20_000, 60_000))
        )
        files[path] = body
    assert len(files) == 2_000, len(files)
    return files


def change_site(files: dict[str, bytes], rng: random.Random) -> dict[str, bytes]:
    """2% of the files changed: pages edited in place, fingerprinted assets rebuilt under new names."""
    changed = dict(files)
    pages = sorted(p for p in files if p.endswith(".html"))
    for path in rng.sample(pages, CHANGED_PAGES):
        changed[path] = files[path] + b"<!-- edited -->"
    assets = sorted(p for p in files if p.startswith("assets/js/"))
    for path in rng.sample(assets, CHANGED_ASSETS):
        del changed[path]
        stem = Path(path).name.split(".")[0]
        new_path, body = _fingerprinted("assets/js", stem, ".js", files[path] + b"//v2")
        changed[new_path] = body
    return changed


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, body in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds, done.stderr


def sitectl_upload(tree: Path, version: str, step: str, env: dict[str, str]) -> Run:
    seconds, stderr = timed(
        [str(BIN / "sitectl"), "--bucket", BUCKET, "upload", str(tree), "--version", version], env
    )
    match = _SUMMARY.search(stderr)
    if match is None:
        raise SystemExit(f"no summary in the sitectl output: {stderr[-300:]}")
    return Run("sitectl upload", step, seconds, int(match["sent"]), int(match["sent_bytes"]))


def aws_sync(tree: Path, prefix: str, step: str, env: dict[str, str], endpoint: str) -> Run:
    command = [
        str(BIN / "aws"),
        "s3",
        "sync",
        str(tree),
        f"s3://{BUCKET}/{prefix}/",
        "--endpoint-url",
        endpoint,
    ]
    seconds, _ = timed([*command, "--only-show-errors"], env)
    files = [p for p in tree.rglob("*") if p.is_file()]
    return Run("aws s3 sync", step, seconds, len(files), sum(p.stat().st_size for p in files))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=2, help="Rounds, each on a fresh bucket (medians).")
    parser.add_argument("--link-mbps", type=float, help="Limit the upload direction to this many Mbit/s.")
    args = parser.parse_args()

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
    v1_files = generate_site(rng)
    v2_files = change_site(v1_files, rng)
    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    server = start_moto(port)
    proxy = ThrottlingProxy(port, args.link_mbps) if args.link_mbps else None
    endpoint = f"http://127.0.0.1:{proxy.port}" if proxy else moto_endpoint
    env["AWS_ENDPOINT_URL"] = endpoint
    runs: list[Run] = []
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
        for round_number in range(args.repeat):
            urllib.request.urlopen(
                urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
            ).close()
            s3.create_bucket(Bucket=BUCKET)
            print(f"round {round_number + 1}/{args.repeat}", file=sys.stderr, flush=True)
            # Interleaved, so that neither tool always runs on a warmer server.
            runs.append(aws_sync(v1, "sync-v1", "full", env, endpoint))
            runs.append(sitectl_upload(v1, V1, "full", env))
            runs.append(sitectl_upload(v2, V2, "2% changed", env))
            runs.append(aws_sync(v2, "sync-v2", "2% changed", env, endpoint))
    finally:
        if proxy:
            proxy.close()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    def median(tool: str, step: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs if r.tool == tool and r.step == step)

    full_bytes = sum(len(b) for b in v1_files.values())
    sync_full = median("aws s3 sync", "full", "seconds")
    sync_changed = median("aws s3 sync", "2% changed", "seconds")
    sitectl_full = median("sitectl upload", "full", "seconds")
    sitectl_changed = median("sitectl upload", "2% changed", "seconds")
    changed_bytes = median("sitectl upload", "2% changed", "bytes_sent")
    results = {
        "site": {
            "files": len(v1_files),
            "bytes": full_bytes,
            "changed_files": CHANGED_PAGES + CHANGED_ASSETS,
        },
        "rounds": args.repeat,
        "link_mbps": args.link_mbps,
        "runs": [asdict(r) for r in runs],
        "ratios": {
            "full_upload_time_vs_sync": sitectl_full / sync_full,
            "second_version_bytes_vs_full": changed_bytes / full_bytes,
            "second_version_time_vs_sync_of_full_tree": sitectl_changed / sync_full,
            "second_version_time_vs_sync_of_second_tree": sitectl_changed / sync_changed,
        },
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
        },
    }
    ratios = results["ratios"]
    goals = {
        "full upload no slower than aws s3 sync": ratios["full_upload_time_vs_sync"] <= 1.0,
        "second version sends at most 5% of the bytes": ratios["second_version_bytes_vs_full"] <= 0.05,
        "second version at most 0.3 of the sync time": ratios["second_version_time_vs_sync_of_full_tree"]
        <= 0.3,
    }
    results["goals"] = goals
    results_file = RESULTS if not args.link_mbps else RESULTS.with_name(f"upload-{args.link_mbps:g}mbps.json")
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(results, indent=2) + "\n")

    print(
        f"\nsite: {len(v1_files)} files, {full_bytes / 1e6:.1f} MB; moto_server on 127.0.0.1; "
        f"{args.repeat} round(s)" + (f"; upload link {args.link_mbps:g} Mbit/s" if args.link_mbps else "")
    )
    print(f"{'tool':<16}{'step':<12}{'seconds':>9}{'files sent':>12}{'MB sent':>10}")
    for tool, step in [
        ("aws s3 sync", "full"),
        ("sitectl upload", "full"),
        ("aws s3 sync", "2% changed"),
        ("sitectl upload", "2% changed"),
    ]:
        print(
            f"{tool:<16}{step:<12}{median(tool, step, 'seconds'):>9.2f}"
            f"{median(tool, step, 'files_sent'):>12.0f}{median(tool, step, 'bytes_sent') / 1e6:>10.2f}"
        )
    print()
    for name, value in ratios.items():
        print(f"{name:<46}{value:>7.3f}")
    for goal, met in goals.items():
        print(f"{'met   ' if met else 'MISSED'} {goal}")
    print(f"\nwritten to {results_file.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
