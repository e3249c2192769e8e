"""Many simultaneous dashboard users, through the public API (gradio_client), wave after wave.

    python benchmarks/serving_load.py                        # 3 waves of 16 users, bundled zoo
    python benchmarks/serving_load.py --users 8 --waves 2 --values distinct
    python benchmarks/serving_load.py --url http://host:7860/ --pid 1234   # a server already running

Each user opens the default pair (/select_models) and moves "layer 0 · all" four times
(/set_lambda). ``--values same``: every user moves to the same four values (a class following the
teacher); ``distinct``: every user to values no one else uses (no score can be reused). After each
wave: p50 / p95 latency per endpoint, errors ("busy" answers counted apart) and the server's RSS.
The server is started here (``python app/main.py``) unless --url is given.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
KEY = "layer 0 · all"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def rss_mb(pid: int) -> float:
    import psutil
    return psutil.Process(pid).memory_info().rss / 2**20


def user(url: str, target: str, aux: str, values: list[float], out: dict[str, Any], lock: threading.Lock) -> None:
    """One user: open the pair, move λ once per value; latencies and errors go into ``out``."""
    from gradio_client import Client

    def timed(endpoint: str, *args) -> None:
        t0 = time.perf_counter()
        try:
            client.predict(*args, api_name=endpoint)
        except Exception as e:  # noqa: BLE001 - counted, the wave goes on
            with lock:
                out["busy" if "busy" in str(e).lower() else "errors"].append(f"{endpoint}: {e}")
            return
        with lock:
            out["lat"].setdefault(endpoint, []).append(time.perf_counter() - t0)

    try:
        client = Client(url, verbose=False)
    except Exception as e:  # noqa: BLE001
        with lock:
            out["errors"].append(f"connect: {e}")
        return
    timed("/select_models", target, aux)
    for v in values:
        timed("/set_lambda", KEY, v)


def wave(url: str, users: int, target: str, aux: str, mode: str, wave_index: int) -> dict[str, Any]:
    out: dict[str, Any] = {"lat": {}, "errors": [], "busy": []}
    lock = threading.Lock()
    threads = []
    for u in range(users):
        if mode == "same":
            values = [0.05, 0.10, 0.15, 0.20]
        else:   # a value per (wave, user, move) that no one else uses
            values = [round(0.01 + 0.001 * (wave_index * 1000 + u * 4 + j), 6) for j in range(4)]
        threads.append(threading.Thread(target=user, args=(url, target, aux, values, out, lock)))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["seconds"] = time.perf_counter() - t0
    return out


def start_server(port: int, zoo: Optional[str], ttl: float, cache_mb: Optional[int], threads: int,
                 max_eval: Optional[int] = None) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "app" / "main.py"), "--port", str(port), "--session-ttl", str(ttl)]
    if max_eval is not None:
        cmd += ["--max-eval", str(max_eval)]
    if zoo:
        cmd += ["--zoo", zoo]
    if cache_mb is not None:
        cmd += ["--cache-mb", str(cache_mb)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    import urllib.request
    for _ in range(240):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start in 120 s")


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=16)
    p.add_argument("--waves", type=int, default=3)
    p.add_argument("--values", choices=["same", "distinct"], default="same")
    p.add_argument("--url", default=None, help="a running server (else one is started)")
    p.add_argument("--pid", type=int, default=None, help="the running server's process id (for RSS)")
    p.add_argument("--zoo", default=None)
    p.add_argument("--target", default=None, help="default: the dashboard's default pair")
    p.add_argument("--aux", default=None)
    p.add_argument("--session-ttl", type=float, default=60.0, help="server session time-to-live (started here)")
    p.add_argument("--cache-mb", type=int, default=None)
    p.add_argument("--max-eval", type=int, default=None,
                   help="validation items the server scores per λ move (default: the app's; a class on 2 cores: ~128)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the server started here")
    p.add_argument("--pause", type=float, default=0.0, help="seconds between waves (sessions may expire)")
    args = p.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from m2pt_core.explorer import Catalog
    cat = Catalog(args.zoo)
    target, aux = args.target, args.aux
    if target is None:
        target, aux = cat.default_pair()
    aux = aux or "(none)"
    proc = None
    url, pid = args.url, args.pid
    if url is None:
        proc = start_server(_free_port(), args.zoo, args.session_ttl, args.cache_mb, args.threads, args.max_eval)
        url, pid = f"http://127.0.0.1:{proc.args[proc.args.index('--port') + 1]}/", proc.pid
    try:
        print(f"{args.waves} waves of {args.users} users on {url}: open {target} + {aux}, move {KEY!r} 4× "
              f"({args.values} values); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if pid:
            print(f"server RSS before: {rss_mb(pid):.0f} MB")
        ok = True
        for w in range(args.waves):
            r = wave(url, args.users, target, aux, args.values, w)
            lat = r["lat"]
            parts = [f"{ep.strip('/')}: p50 {_p(v, .5):.2f} s, p95 {_p(v, .95):.2f} s (n={len(v)})"
                     for ep, v in sorted(lat.items())]
            mem = f"{rss_mb(pid):.0f} MB" if pid else "n/a"
            print(f"wave {w + 1}: {r['seconds']:.1f} s · " + " · ".join(parts) +
                  f" · errors {len(r['errors'])} · busy {len(r['busy'])} · server RSS {mem}")
            for e in (r["errors"] + r["busy"])[:3]:
                print("   ", e[:300])
            ok = ok and not r["errors"]
            if args.pause and w + 1 < args.waves:
                time.sleep(args.pause)
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
