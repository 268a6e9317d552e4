"""Load-test a dlzoo server on this machine: N requests at a fixed concurrency, a share of them malformed.

    python tools/load_test.py --serve out/            # start `dlzoo serve out/` on a free loopback port, test, stop
    python tools/load_test.py --url http://127.0.0.1:8000 --requests 2000 --concurrency 16

Valid requests are built from the server's `/metadata` signature (random
inputs, batch 2, dynamic lengths 4). A tenth (`--malformed`) are bad on
purpose, cycling through: not JSON, missing input, unknown input, wrong
shape, wrong dtype, batch over the limit, body over the limit (when the
limit is at most 1 MiB), and the costly ones the limits must stop before
the model runs: a sequence one over the model's `max_sequence_length`, an
oversized one (20,000 tokens: about 180 KB of JSON for a token model), an
id outside the model's range (`token_ids` = `vocabulary_size`), and batch x
length over `max_tokens`. Reports throughput, latency percentiles, the
status-code histogram and, for a server it started (or `--server-pid`), the
server's resident memory before and after and its peak (VmHWM, every
process of the server); exits 1 if any request got a 5xx, a connection
error, or a status other than the expected one (200 for valid, 4xx for
malformed). Only loopback addresses are accepted as targets, and the run is
bounded in requests and time.
"""

import argparse
import asyncio
import collections
import glob
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MALFORMED_KINDS = ("not_json", "missing_input", "unknown_input", "wrong_shape", "wrong_dtype", "batch_too_large", "body_too_large",
                   "sequence_too_long", "oversized_sequence", "id_out_of_range", "too_many_tokens")
OVERSIZED_LENGTH = 20_000


def check_loopback(url: str) -> None:
    host = urllib.parse.urlparse(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"load_test only targets loopback addresses (127.0.0.0/8, ::1, localhost). Received: {url}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dims(spec, sizes):
    return [sizes.get(spec.get("dynamic_axes", {}).get(str(i)), 4) if d is None else d for i, d in enumerate(spec["shape"])]


def _values(spec, shape, rng):
    if spec["dtype"] == "bool":
        return np.ones(shape, dtype=bool).tolist()
    if "int" in spec["dtype"]:
        return rng.integers(0, 2, size=shape).tolist()
    return np.round(rng.standard_normal(shape), 4).tolist()


def _sequence_dim(inputs):
    """The name of the dynamic axis 1 shared by the inputs (the sequence), or None."""
    names = {s.get("dynamic_axes", {}).get("1") for s in inputs if len(s["shape"]) > 1 and s["shape"][1] is None}
    names.discard(None)
    return next(iter(names)) if len(names) == 1 else None


def _body(inputs, sizes, rng, override=None):
    values = {s["name"]: _values(s, _dims(s, sizes), rng) for s in inputs}
    values.update(override or {})
    return json.dumps({"inputs": values}).encode()


def make_payloads(metadata, rng, batch=2):
    """One valid body and the malformed bodies, as bytes."""
    inputs = metadata["signature"]["inputs"]
    limits = metadata["limits"]
    sizes = {"batch": batch}
    valid = {s["name"]: _values(s, _dims(s, sizes), rng) for s in inputs}
    first = inputs[0]
    bodies = {"valid": json.dumps({"inputs": valid}).encode()}
    bodies["not_json"] = b"{this is not json"
    bodies["missing_input"] = json.dumps({"inputs": {k: v for k, v in valid.items() if k != first["name"]}}).encode()
    bodies["unknown_input"] = json.dumps({"inputs": dict(valid, not_an_input=[[0]])}).encode()
    wrong_rank = dict(valid)
    wrong_rank[first["name"]] = _values(first, _dims(first, sizes) + [2], rng)
    bodies["wrong_shape"] = json.dumps({"inputs": wrong_rank}).encode()
    wrong_dtype = dict(valid)
    wrong_dtype[first["name"]] = np.full(_dims(first, sizes), "x").tolist()
    bodies["wrong_dtype"] = json.dumps({"inputs": wrong_dtype}).encode()
    big = limits["max_batch_size"] + 1
    bodies["batch_too_large"] = json.dumps(
        {"inputs": {s["name"]: _values(s, _dims(s, {"batch": big}), rng) for s in inputs}}
    ).encode()
    if limits["max_body_bytes"] <= 1 << 20:
        bodies["body_too_large"] = b" " * (limits["max_body_bytes"] + 1)
    seq = _sequence_dim(inputs)
    max_len = limits.get("max_sequence_length")
    if seq is not None and max_len:
        bodies["sequence_too_long"] = _body(inputs, {"batch": 1, seq: max_len + 1}, rng)
    if seq is not None:
        bodies["oversized_sequence"] = _body(inputs, {"batch": 1, seq: OVERSIZED_LENGTH}, rng)
    for name, (low, high) in (limits.get("id_ranges") or {}).items():
        spec = next(s for s in inputs if s["name"] == name)
        ids = np.full(_dims(spec, sizes), low)
        ids.flat[-1] = high
        bodies["id_out_of_range"] = _body(inputs, sizes, rng, {name: ids.tolist()})
        break
    max_tokens, max_batch = limits.get("max_tokens"), limits["max_batch_size"]
    if seq is not None and max_tokens:
        length = max_tokens // max_batch + 1
        if not max_len or length <= max_len:
            bodies["too_many_tokens"] = _body(inputs, {"batch": max_batch, seq: length}, rng)
    return bodies


def _process_tree(pid):
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in glob.glob(f"/proc/{current}/task/*/children"):
            try:
                todo += [int(c) for c in open(task).read().split()]
            except OSError:
                pass
    return pids


def _status_kib(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def server_memory(pid):
    """Resident and peak resident memory (MiB) of a server process and its children, from /proc (Linux)."""
    pids = _process_tree(pid)
    rss = [_status_kib(p, "VmRSS") for p in pids]
    peak = [_status_kib(p, "VmHWM") for p in pids]
    if not any(v is not None for v in rss):
        return None
    return {
        "processes": len(pids),
        "rss_mib": round(sum(v for v in rss if v) / 1024, 1),
        "peak_rss_mib": round(sum(v for v in peak if v) / 1024, 1),
        "largest_process_peak_rss_mib": round(max(v for v in peak if v) / 1024, 1),
    }


async def run_load(url, bodies, total, concurrency, malformed, max_seconds):
    import httpx

    kinds = [k for k in MALFORMED_KINDS if k in bodies]
    plan = []
    every = max(1, round(1 / malformed)) if malformed > 0 else 0
    for i in range(total):
        plan.append(kinds[(i // every) % len(kinds)] if every and i % every == every - 1 else "valid")
    results = [None] * total
    next_index = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as client:

        async def worker():
            nonlocal next_index
            while next_index < total and time.perf_counter() < deadline:
                i = next_index
                next_index += 1
                kind = plan[i]
                start = time.perf_counter()
                try:
                    response = await client.post("/predict", content=bodies[kind], headers={"content-type": "application/json"})
                    status = response.status_code
                    if status >= 400:
                        response.json()["error"]["message"]  # every error must be a JSON body naming the problem
                except Exception as exc:  # counted, never raised: the report shows them
                    status = f"error:{type(exc).__name__}"
                results[i] = (kind, status, time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return [r for r in results if r is not None], wall


def report(results, wall, concurrency):
    latencies = np.array([r[2] for r in results]) * 1000
    valid = np.array([r[2] for r in results if r[0] == "valid"]) * 1000
    histogram = collections.Counter(str(r[1]) for r in results)
    unexpected = [r for r in results if (r[0] == "valid" and r[1] != 200) or (r[0] != "valid" and not (isinstance(r[1], int) and 400 <= r[1] < 500))]
    server_errors = sum(1 for r in results if isinstance(r[1], int) and r[1] >= 500)
    conn_errors = sum(1 for r in results if isinstance(r[1], str))
    by_kind = collections.defaultdict(collections.Counter)
    for kind, status, _ in results:
        by_kind[kind][str(status)] += 1
    return {
        "requests": len(results),
        "concurrency": concurrency,
        "seconds": round(wall, 2),
        "throughput_rps": round(len(results) / wall, 1) if wall else None,
        "latency_ms": {q: round(float(np.percentile(latencies, p)), 2) for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        "valid_latency_ms": {q: round(float(np.percentile(valid, p)), 2) for q, p in (("p50", 50), ("p99", 99))} if valid.size else {},
        "status_histogram": dict(sorted(histogram.items())),
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "server_errors_5xx": server_errors,
        "connection_errors": conn_errors,
        "unexpected": len(unexpected),
    }


def start_server(path, port, workers, max_body_bytes, backend=None, extra=()):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    cmd = [sys.executable, "-m", "dlzoo", "serve", path, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--max-body-bytes", str(max_body_bytes), "--log-level", "warning"]  # fmt: skip
    if backend:
        cmd += ["--backend", backend]
    cmd += list(extra)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_healthy(url, proc=None, timeout=180.0):
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server at {url} did not answer /health within {timeout:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--serve", metavar="PATH", help="start `dlzoo serve PATH` on a free loopback port for the run")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--malformed", type=float, default=0.1, help="share of malformed requests (default 0.1)")
    parser.add_argument("--workers", type=int, default=1, help="server workers with --serve")
    parser.add_argument("--backend", default=None, help="--backend passed to dlzoo serve with --serve")
    parser.add_argument("--max-body-bytes", type=int, default=256 * 1024, help="server body limit with --serve")
    parser.add_argument("--max-tokens", type=int, default=None, help="--max-tokens passed to dlzoo serve with --serve")
    parser.add_argument("--server-pid", type=int, default=None, help="with --url: the server's pid, to report its memory")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop sending after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256 or not 0 <= args.malformed <= 1:
        raise SystemExit("--requests must be 1..100000, --concurrency 1..256, --malformed 0..1")

    import httpx

    proc = None
    url = args.url
    try:
        if args.serve:
            url = f"http://127.0.0.1:{free_port()}"
            extra = ["--max-tokens", str(args.max_tokens)] if args.max_tokens else []
            proc = start_server(args.serve, int(url.rsplit(":", 1)[1]), args.workers, args.max_body_bytes, args.backend, extra)
            wait_healthy(url, proc)
        check_loopback(url)
        url = url.rstrip("/")
        metadata = httpx.get(url + "/metadata", timeout=30).json()
        bodies = make_payloads(metadata, np.random.default_rng(args.seed))
        server_pid = proc.pid if proc is not None else args.server_pid
        before = server_memory(server_pid) if server_pid else None
        results, wall = asyncio.run(run_load(url, bodies, args.requests, args.concurrency, args.malformed, args.max_seconds))
        result = report(results, wall, args.concurrency)
        result["target"] = {"url": url, "model": metadata["model"]["name"], "runtime": metadata["runtime"], "workers": args.workers if args.serve else None,
                            "limits": metadata["limits"]}
        if server_pid:
            result["server_memory"] = {"before": before, "after": server_memory(server_pid)}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        lat = result["latency_ms"]
        print(f"{result['requests']} requests at concurrency {result['concurrency']} against {url} ({result['target']['runtime'].get('kind')})")
        print(f"  throughput  {result['throughput_rps']} req/s over {result['seconds']} s")
        print(f"  latency     p50 {lat['p50']} ms, p90 {lat['p90']} ms, p99 {lat['p99']} ms, max {lat['max']} ms")
        print(f"  statuses    {result['status_histogram']}")
        for kind, hist in result["by_kind"].items():
            print(f"    {kind:<16} {hist}")
        print(f"  5xx: {result['server_errors_5xx']}, connection errors: {result['connection_errors']}, unexpected statuses: {result['unexpected']}")
        memory = result.get("server_memory") or {}
        if memory.get("before") and memory.get("after"):
            b, a = memory["before"], memory["after"]
            print(f"  server RSS  {b['rss_mib']} MiB before, {a['rss_mib']} MiB after, peak {a['peak_rss_mib']} MiB "
                  f"({a['processes']} process(es))")
    return 0 if result["server_errors_5xx"] == 0 and result["connection_errors"] == 0 and result["unexpected"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
