"""``make bench``: the gateway against a fast fake upstream (nginx), and the same upstream direct.

For JSON and SSE, at concurrency 1, 32 and 128, wrk drives load on loopback and reports
requests/s, p50 and p99; the gateway process's own CPU time (utime + stime from /proc) is
divided by the requests it served. With ``--rounds N`` every row runs N times, the rows
alternated, and the table shows medians: on a noisy machine single runs move by 10-30%.
The gateway runs as `atgw serve` with a real gateway key, metrics on and usage accounting
into SQLite: the configuration a user runs.

Needs nginx and wrk (Debian packages ``nginx-light`` and ``wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import orjson

from tests.bench.upstream import ANTHROPIC_JSON, ANTHROPIC_SSE, OPENAI_JSON, OPENAI_SSE

CHAT = {"model": "", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 32}
_KEY = re.compile(r"gateway API key 'default' \(shown once\): (\S+)")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    target: str
    kind: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_ms_per_request: float | None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_nginx(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    routes = {
        "/json/v1/chat/completions": ("application/json", OPENAI_JSON),
        "/sse/v1/chat/completions": ("text/event-stream", OPENAI_SSE),
        "/anthropic-json/v1/messages": ("application/json", ANTHROPIC_JSON),
        "/anthropic-sse/v1/messages": ("text/event-stream", ANTHROPIC_SSE),
    }
    # `return` answers any method (a static file would refuse POST); bodies hold no quote.
    locations = "\n".join(
        f"    location = {path} {{ default_type {kind}; return 200 '{body.decode()}'; }}"
        for path, (kind, body) in routes.items()
    )
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_buffer_size 64k;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
{locations}
  }}
}}
""")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_port(port)
    return proc


def start_gateway(
    workdir: Path, port: int, upstream: int, translated: bool, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / f"at-{workers}.yaml"
    base = f"http://127.0.0.1:{upstream}"
    claude = f"""
  claude: {{type: anthropic, base_url: {base}/anthropic-json, api_key: sk-bench, model: c}}
  claudes: {{type: anthropic, base_url: {base}/anthropic-sse, api_key: sk-bench, model: c}}
""" if translated else ""
    config.write_text(f"""
server: {{host: 127.0.0.1, port: {port}, log_level: warning, admin_token: bench-admin-token,
          workers: {workers}}}
providers:
  json: {{type: openai, base_url: {base}/json/v1, api_key: sk-bench, model: m,
          prices: {{m: {{input: 1.0, output: 2.0}}}}}}
  json2: {{type: openai, base_url: {base}/json/v1, api_key: sk-bench, model: m,
           prices: {{m: {{input: 1.0, output: 2.0}}}}}}
  sse: {{type: openai, base_url: {base}/sse/v1, api_key: sk-bench, model: m}}{claude}
routes:
  two: {{targets: [{{model: json/m, weight: 1}}, {{model: json2/m, weight: 1}}]}}
store:
  sqlite: {{datasource: {workdir}/bench-{workers}.db}}
""")
    out = workdir / f"gateway-{workers}.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "node", "serve", "--config", str(config)],
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )
    _wait_ready(port)
    match = _KEY.search(out.read_text())
    if match is None:
        raise SystemExit(f"bench: no gateway key printed:\n{out.read_text()}")
    return proc, match.group(1)


# Five windowed limits and a USD budget that the bench never reaches: admission and
# settlement run in full on every request, and nothing is refused.
LIMITS = {"requests_per_minute": 10_000_000, "requests_per_day": 100_000_000,
          "input_tokens_per_minute": 10_000_000_000, "output_tokens_per_minute": 10_000_000_000,
          "usd_per_day": 1_000_000}


def limited_key(port: int) -> str:
    """A second gateway key carrying LIMITS, made through the admin API."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/tokens", method="POST",
        data=orjson.dumps({"name": "limited", "limits": LIMITS}),
        headers={"Authorization": "Bearer bench-admin-token",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(orjson.loads(answer.read())["key"])


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on {port}")


def _wait_ready(port: int, timeout: float = 60.0) -> None:
    """Until /ready answers 200: with workers, every one of them serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bench: the gateway on {port} is not ready")


def cpu_ms(pid: int) -> float:
    """CPU time of ``pid`` and its children alive now (a node's supervisor and workers)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *map(int, children.read_text().split())] if children.exists() else [pid]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total * 1000.0 / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str, body: dict[str, object], key: str, concurrency: int, seconds: float, workdir: Path
) -> tuple[float, float, float, int]:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{orjson.dumps(body).decode()}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    )
    threads = min(concurrency, 2)
    run = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    text = run.stdout
    if "Non-2xx" in text:
        logs = "".join(f"\n== {out.name}:\n" + "\n".join(out.read_text().splitlines()[-15:])
                       for out in sorted(workdir.glob("gateway-*.out")))
        raise SystemExit(f"bench: non-2xx answers from {url}:\n{text}{logs}")
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    return rps, _percentile(text, "50"), _percentile(text, "99"), requests


def _percentile(text: str, which: str) -> float:
    match = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    assert match is not None, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every row this many times, rows alternated, and report "
                             "medians (a noisy machine: 3 or more)")
    parser.add_argument("--concurrency", default="1,32,128")
    parser.add_argument("--out", default=".bench/results.md")
    parser.add_argument("--no-translated", dest="translated", action="store_false",
                        help="skip the OpenAI-in, Anthropic-out rows")
    parser.add_argument("--workers", default="1",
                        help="server.workers of the gateway; a list (1,2) runs each in turn")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds: expected a whole number of at least 1, got {args.rounds}")
    counts = [int(w) for w in args.workers.split(",")]
    for tool in ("wrk", "nginx"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            raise SystemExit(f"bench: {tool} is missing (apt-get install nginx-light wrk)")
    levels = [int(c) for c in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="at-bench-") as tmp:
        workdir = Path(tmp)
        up_port, gw_port = free_port(), free_port()
        nginx = start_nginx(workdir, up_port)
        try:
            bare_port = free_port()
            bare = subprocess.Popen(
                [sys.executable, "-m", "tests.bench.bare", f"http://127.0.0.1:{up_port}",
                 str(bare_port)])
            results: list[Result] = []
            try:
                _wait_port(bare_port)
                for workers in counts:
                    gateway, key = start_gateway(workdir, gw_port, up_port, args.translated,
                                                 workers)
                    try:
                        keys = {"plain": key, "limited": limited_key(gw_port)}
                        results += run_matrix(workdir, up_port, gw_port, gateway.pid, keys,
                                              levels, args.seconds, args.translated,
                                              (bare_port, bare.pid), workers,
                                              baselines=workers == counts[0],
                                              rounds=args.rounds)
                    finally:
                        gateway.send_signal(signal.SIGTERM)
                        gateway.wait(30)
            finally:
                bare.kill()
                bare.wait(10)
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(10)
    table = render(results)
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    return 0


def run_matrix(
    workdir: Path, up: int, gw: int, pid: int, keys: dict[str, str], levels: list[int],
    seconds: float,
    translated: bool,
    bare: tuple[int, int],
    workers: int = 1,
    *,
    baselines: bool = True,
    rounds: int = 1,
) -> list[Result]:
    direct = f"http://127.0.0.1:{up}"
    gateway = f"http://127.0.0.1:{gw}"
    forwarder = f"http://127.0.0.1:{bare[0]}/v1/chat/completions"
    cases = [
        ("direct", "JSON", f"{direct}/json/v1/chat/completions", "m", False, None),
        ("bare aiohttp forwarder", "JSON", forwarder, "m", False, bare[1]),
        ("gateway", "JSON", f"{gateway}/v1/chat/completions", "json/m", False, pid),
        ("gateway, route with two targets", "JSON", f"{gateway}/v1/chat/completions", "two",
         False, pid),
        ("gateway, key with 5 limits, priced", "JSON", f"{gateway}/v1/chat/completions",
         "json/m", False, pid),
        ("direct", "SSE", f"{direct}/sse/v1/chat/completions", "m", True, None),
        ("bare aiohttp forwarder", "SSE", forwarder, "m", True, bare[1]),
        ("gateway", "SSE", f"{gateway}/v1/chat/completions", "sse/m", True, pid),
        (
            "gateway, OpenAI in -> Anthropic out",
            "JSON",
            f"{gateway}/v1/chat/completions",
            "claude/c",
            False,
            pid,
        ),
        (
            "gateway, OpenAI in -> Anthropic out",
            "SSE",
            f"{gateway}/v1/chat/completions",
            "claudes/c",
            True,
            pid,
        ),
    ]
    if not translated:
        cases = cases[:8]
    if not baselines:   # direct and the forwarder do not change with the gateway's workers
        cases = [c for c in cases if c[0].startswith("gateway")]
    runs = []
    for target, kind, url, model, stream, measured in cases:
        body = {**CHAT, "model": model, "stream": stream}
        key = keys["limited" if "limits" in target else "plain"]
        shown = f"{target} ({workers} workers)" if target.startswith("gateway") and \
            workers > 1 else target
        wrk(url, body, key, 8, 1.0, workdir)  # warm-up: pools, caches, JIT-free but lazy imports
        runs.append((shown, kind, url, body, key, measured))
    # samples[(run, level)]: one (rps, p50, p99, requests, cpu) per round
    samples: dict[tuple[int, int], list[tuple[float, float, float, int, float | None]]] = {}
    for level in levels:
        for turn in range(rounds):
            # Rounds alternate the order of the rows: a machine that slows down or speeds up
            # during the run then weighs on every row alike, and medians keep the rest out.
            order = range(len(runs)) if turn % 2 == 0 else range(len(runs) - 1, -1, -1)
            for i in order:
                shown, kind, url, body, key, measured = runs[i]
                before = cpu_ms(measured) if measured else 0.0
                rps, p50, p99, count = wrk(url, body, key, level, seconds, workdir)
                per = (cpu_ms(measured) - before) / count if measured else None
                samples.setdefault((i, level), []).append((rps, p50, p99, count, per))
                print(
                    f"{shown:40} {kind:4} c={level:<3} {rps:9.0f} rps  p50 {p50:7.3f} ms  "
                    f"p99 {p99:7.3f} ms  cpu/req {per if per is None else round(per, 4)}",
                    file=sys.stderr,
                )
    results = []
    for i, (shown, kind, *_rest) in enumerate(runs):
        for level in levels:
            rows = samples[(i, level)]
            cpus = [row[4] for row in rows if row[4] is not None]
            results.append(Result(
                shown, kind, level, median(row[0] for row in rows),
                median(row[1] for row in rows), median(row[2] for row in rows),
                sum(row[3] for row in rows), median(cpus) if cpus else None))
    return results


def render(results: list[Result]) -> str:
    lines = [
        "| target | body | concurrency | requests/s | p50 ms | p99 ms | gateway CPU ms/request |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        cpu = "" if r.cpu_ms_per_request is None else f"{r.cpu_ms_per_request:.3f}"
        lines.append(
            f"| {r.target} | {r.kind} | {r.concurrency} | {r.rps:,.0f} | "
            f"{r.p50_ms:.3f} | {r.p99_ms:.3f} | {cpu} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
