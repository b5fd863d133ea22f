"""Load on a local ``imret serve``: 50 concurrent clients vs one, then slowloris and malformed rounds.

Builds an index of UKBench images with ``imret index``, starts ``imret serve`` on 127.0.0.1 (a free
port), and runs, round-robin, sequential rounds (one client) and concurrent rounds (``--clients``
clients), each posting real UKBench JPEGs for ``--duration`` seconds. Then a slowloris round (sockets
that send their headers one line a second) and a malformed-request round, checking /health and a
search during and after. Loopback only; bounded in sockets, requests and time.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_server.py [--clients 50] [--duration 15] [--rounds 2]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
UKBENCH = REPO.parent / "shared" / "datasets" / "ukbench"
IMRET = Path(sys.executable).parent / "imret"
MALFORMED = [
    b"POST /api/v1/search HTTP/1.1\r\nHost: b\r\nContent-Length: abc\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: b\r\nNo colon\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    b"POST /api/v1/search HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345",
    b"POST /api/v1/search HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Type: multipart/form-data; "
    b"boundary=z\r\nContent-Length: 10\r\n\r\n0123456789",
    b"POST /api/v1/search HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Type: multipart/form-data; "
    b"boundary=z\r\nContent-Length: 900000000\r\n\r\n",
    b"GET /gallery/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
    b"GET /api/v1/search/by-id?id=nope HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def multipart_body(name: str, data: bytes, boundary: str) -> bytes:
    """The form a browser sends: ``topk=5`` and the JPEG in the file field ``image``."""
    return (f'--{boundary}\r\nContent-Disposition: form-data; name="topk"\r\n\r\n5\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            f'Content-Type: image/jpeg\r\n\r\n').encode() + data + f"\r\n--{boundary}--\r\n".encode()


def search_request(name: str, data: bytes, number: int) -> bytes:
    """A complete keep-alive HTTP/1.1 POST /api/v1/search of one JPEG."""
    boundary = f"imretbench{number:08x}"
    body = multipart_body(name, data, boundary)
    head = (f"POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
            f"boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = next((int(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"content-length:")),
                  0)
    return status, await reader.readexactly(length)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by process ``pid`` and its live descendants
    (Linux /proc; NaN elsewhere)."""
    usage, parents = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        usage[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    if pid not in usage:
        return float("nan")
    family, changed = {pid}, True
    while changed:
        grown = family | {child for child, parent in parents.items() if parent in family}
        changed, family = grown != family, grown
    return sum(usage[member] for member in family)


async def load_round(port: int, requests: list[bytes], clients: int, duration: float, server_pid: int) -> dict:
    """``clients`` keep-alive connections posting JPEGs until ``duration`` seconds have passed.

    The client is raw asyncio HTTP/1.1 with the requests encoded in advance, so that on a 2-core machine
    it takes as little CPU as possible from the server it measures (its share is reported).
    """
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + duration

    async def client(number: int) -> None:
        position = number
        reader = writer = None
        while time.perf_counter() < stop_at:
            request = requests[position % len(requests)]
            position += clients
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                status, body = await asyncio.wait_for(read_response(reader), 120)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    ValueError, IndexError) as error:
                errors.append(f"{type(error).__name__}: {error}")
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if status != 200:
                errors.append(f"{status} {body[:120]!r}")
                continue
            latencies.append(time.perf_counter() - started)
        if writer is not None:
            writer.close()

    cpu_before, server_before = time.process_time(), tree_cpu(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    client_cpu, server_cpu = time.process_time() - cpu_before, tree_cpu(server_pid) - server_before
    count = max(1, len(latencies))
    return {"clients": clients, "requests": len(latencies), "errors": errors, "seconds": elapsed,
            "throughput": len(latencies) / elapsed, "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "client_ms": 1000 * client_cpu / count, "server_ms": 1000 * server_cpu / count,
            "server_cores": server_cpu / elapsed, "client_cores": client_cpu / elapsed}


def health_ok(base: str) -> bool:
    try:
        return httpx.get(base + "/health", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def search_ok(base: str, image: tuple[str, bytes]) -> bool:
    try:
        return httpx.post(base + "/api/v1/search", files={"image": image}, timeout=60).status_code == 200
    except httpx.HTTPError:
        return False


def slowloris_round(base: str, port: int, sockets: int, seconds: float, image) -> dict:
    """``sockets`` connections sending one header line a second; /health and a search meanwhile."""
    stop = time.monotonic() + seconds
    closed_by_server = []
    lock = threading.Lock()

    def slow() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=seconds + 10) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\n")
                while time.monotonic() < stop:
                    time.sleep(1)
                    try:
                        sock.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        break
                sock.settimeout(2)
                try:
                    reply = sock.recv(4096)
                except (socket.timeout, OSError):
                    reply = b""
                with lock:
                    closed_by_server.append(reply.startswith(b"HTTP/1.1 408"))
        except OSError:
            with lock:
                closed_by_server.append(False)

    threads = [threading.Thread(target=slow, daemon=True) for _ in range(sockets)]
    for thread in threads:
        thread.start()
    health = searches = 0
    checks = 0
    while time.monotonic() < stop:
        checks += 1
        health += health_ok(base)
        searches += search_ok(base, image)
        time.sleep(0.5)
    for thread in threads:
        thread.join(seconds + 15)
    return {"sockets": sockets, "answered_408": sum(closed_by_server), "checks": checks, "health_ok": health,
            "search_ok": searches, "after": health_ok(base) and search_ok(base, image)}


def malformed_round(base: str, port: int, count: int, image) -> dict:
    """``count`` malformed requests (cycling through MALFORMED) on 8 threads; every reply must be 4xx JSON."""
    results: list[bool] = []
    lock = threading.Lock()

    def send(payload: bytes) -> None:
        reply = b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
                sock.sendall(payload)
                while True:
                    part = sock.recv(65536)
                    if not part:
                        break
                    reply += part
        except OSError:
            pass
        good = re.match(rb"HTTP/1\.1 4\d\d ", reply) is not None and b'"error"' in reply \
            and b"Traceback" not in reply
        with lock:
            results.append(good)

    payloads = [MALFORMED[n % len(MALFORMED)] for n in range(count)]
    for start in range(0, count, 8):
        threads = [threading.Thread(target=send, args=(p,)) for p in payloads[start:start + 8]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    return {"requests": count, "clean_4xx": sum(results), "after": health_ok(base) and search_ok(base, image)}


def start_server(index: Path, log: Path, options: list[str]) -> tuple[subprocess.Popen, str]:
    handle = open(log, "wb")
    proc = subprocess.Popen([str(IMRET), "serve", str(index), "--port", "0", "--log-level", "warning", *options],
                            stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    base = ""
    while time.monotonic() < deadline:
        found = re.search(r"open (http://127\.0\.0\.1:\d+)/", log.read_text(errors="replace"))
        if found:
            base = found.group(1)
            try:
                if httpx.get(base + "/ready", timeout=5).status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"imret serve did not become ready: {log.read_text(errors='replace')[-2000:]}")


def mean_throughput(rounds: list[tuple[str, dict]], kind: str) -> float:
    values = [result["throughput"] for name, result in rounds if name == kind]
    return sum(values) / len(values)


def print_rounds(label: str, rounds: list[tuple[str, dict]], clients: int) -> None:
    """The rounds of one server as a markdown table, and concurrent / sequential throughput."""
    print(f"server: imret serve {label}\n")
    print("| round | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms | server CPU ms/req (cores) "
          "| client CPU ms/req (cores) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, result in rounds:
        print(f"| {name} | {result['clients']} | {result['requests']} | {len(result['errors'])} | "
              f"{result['throughput']:.2f} | {result['p50'] * 1000:.0f} | {result['p95'] * 1000:.0f} | "
              f"{result['p99'] * 1000:.0f} | {result['server_ms']:.1f} ({result['server_cores']:.2f}) | "
              f"{result['client_ms']:.1f} ({result['client_cores']:.2f}) |")
    sequential, concurrent = mean_throughput(rounds, "sequential"), mean_throughput(rounds, "concurrent")
    pairs = [c["throughput"] / s["throughput"] for (_, s), (_, c) in zip(rounds[0::2], rounds[1::2])]
    print(f"\nthroughput {clients} clients / 1 client: {concurrent / sequential:.2f}x ({concurrent:.2f} vs "
          f"{sequential:.2f} req/s; per pair: {', '.join(f'{pair:.2f}x' for pair in pairs)})\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=100, help="UKBench images indexed (default 100)")
    parser.add_argument("--queries", type=int, default=100, help="UKBench images posted (default 100)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per load round")
    parser.add_argument("--rounds", type=int, default=2, help="sequential/concurrent pairs, round-robin")
    parser.add_argument("--slow-sockets", type=int, default=200)
    parser.add_argument("--slow-seconds", type=float, default=14.0)
    parser.add_argument("--malformed", type=int, default=200)
    parser.add_argument("--serve-option", action="append", default=[], metavar="OPTION",
                        help="extra `imret serve` option, e.g. --serve-option=--workers=1 (repeatable)")
    parser.add_argument("--compare-workers", type=int, default=None, metavar="N",
                        help="also serve the index with `--workers N` and measure it in the same rounds, alternately")
    args = parser.parse_args()
    if not UKBENCH.is_dir():
        print(f"needs UKBench at {UKBENCH}", file=sys.stderr)
        return 1
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        gallery, index = Path(tmp) / "gallery", Path(tmp) / "index"
        gallery.mkdir()
        for number in range(args.gallery):
            os.symlink(UKBENCH / f"ukbench{number:05d}.jpg", gallery / f"ukbench{number:05d}.jpg")
        subprocess.run([str(IMRET), "index", str(gallery), "--out", str(index), "--no-progress"], check=True,
                       capture_output=True)
        queries = [(f"ukbench{n:05d}.jpg", (UKBENCH / f"ukbench{n:05d}.jpg").read_bytes())
                   for n in range(args.gallery, args.gallery + args.queries)]
        servers: list[tuple[str, subprocess.Popen, str]] = []
        try:
            servers.append(("default" if not args.serve_option else " ".join(args.serve_option),
                            *start_server(index, Path(tmp) / "server.log", args.serve_option)))
            if args.compare_workers is not None:
                option = [f"--workers={args.compare_workers}"]
                servers.append((option[0], *start_server(index, Path(tmp) / "compared.log", option)))
            base = servers[0][2]
            port = int(base.rsplit(":", 1)[1])
            requests = [search_request(name, data, number) for number, (name, data) in enumerate(queries)]
            for _, server, url in servers:
                asyncio.run(load_round(int(url.rsplit(":", 1)[1]), requests, 4, 3, server.pid))  # warm-up
            rounds, compared = [], []
            for _ in range(args.rounds):
                for number, (_, server, url) in enumerate(servers):
                    where, kept = int(url.rsplit(":", 1)[1]), rounds if number == 0 else compared
                    kept.append(("sequential", asyncio.run(load_round(where, requests, 1, args.duration, server.pid))))
                    kept.append(("concurrent", asyncio.run(load_round(where, requests, args.clients, args.duration,
                                                                      server.pid))))
            info = httpx.get(base + "/api/v1/info").json()
            slow = slowloris_round(base, port, args.slow_sockets, args.slow_seconds, queries[0])
            bad = malformed_round(base, port, args.malformed, queries[0])
            log_text = (Path(tmp) / "server.log").read_text(errors="replace")
        finally:
            for _, server, _ in servers:
                server.terminate()
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(30)
    load_after = os.getloadavg()

    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; {os.cpu_count()} CPUs")
    print(f"index: {args.gallery} UKBench images; queries: {args.queries} other UKBench JPEGs (640x480)\n")
    for label, kept in [(servers[0][0], rounds)] + ([(servers[1][0], compared)] if compared else []):
        print_rounds(label, kept, args.clients)
    errors = [e for _, r in rounds + compared for e in r["errors"]]
    if compared:
        ours = mean_throughput(rounds, "concurrent") / mean_throughput(compared, "concurrent")
        print(f"{args.clients} clients, {servers[0][0]} / {servers[1][0]}: {ours:.2f}x; 1 client: "
              f"{mean_throughput(rounds, 'sequential') / mean_throughput(compared, 'sequential'):.2f}x\n")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"micro-batching: {info['images_encoded']} images in {info['forward_passes']} forward passes "
          f"({info['images_encoded'] / max(1, info['forward_passes']):.2f} per pass)")
    print(f"slowloris: {slow['sockets']} sockets, {slow['answered_408']} cut off with 408; during it /health "
          f"{slow['health_ok']}/{slow['checks']} and search {slow['search_ok']}/{slow['checks']} ok; "
          f"after: {'serving' if slow['after'] else 'NOT SERVING'}")
    print(f"malformed: {bad['clean_4xx']}/{bad['requests']} answered with a 4xx JSON error; after: "
          f"{'serving' if bad['after'] else 'NOT SERVING'}")
    print(f"server log tracebacks: {log_text.count('Traceback')}")
    ok = not errors and slow["after"] and bad["after"] and bad["clean_4xx"] == bad["requests"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
