"""The dashboard driven in a real browser (headless Chromium) with a ViT-B/16 pair, as a user would.

    python benchmarks/vitb_dashboard.py [--depth 12] [--images 400] [--cache-mb 512] [--max-eval 750]
                                        [--job-budget-s S] [--every-layer] [--stop-knockout]
                                        [--workdir DIR] [--shots DIR] [--json FILE]

Writes two timm ``vit_base_patch16_224`` files with random weights (benchmarks/scale.py's
``write_weights``, nothing downloaded; ``--depth`` < 12 for a shallow ViT-B-shaped pair) and a
class-per-folder tree of ``--images`` digit PNGs (decoded at the checkpoint's 224 px, 197 tokens),
starts ``app/main.py`` as its own process (--models-dir, --data-dir, --cache-mb), and in Chromium:
adds the auxiliary by path, opens the target as a pretrained target for the folder, opens the
pair, computes the λ sweeps (absolute λ on every layer of the fresh pair), moves λ of layer 0 on the
slider's fixed subset (every block re-runs: the worst case), scores the whole validation split on
request, moves λ of the last layer (one block re-runs; ``--every-layer``: of every layer, so every
knockout probe runs), and computes the knockout map (``--stop-knockout`` presses Stop once its time
left shows). ``--job-budget-s``: a long action still running then is stopped with the page's Stop,
and its last time-left line is reported; the server's CPU seconds are reported per action. Prints the time of each
step as the page shows it done, and the server's peak resident memory (VmHWM). The browser test
(tests/test_vitb_dashboard.py) drives the same steps (``drive``) on a 2-block pair.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from scale import write_weights  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ETA = r"[^:\n]*: \d+% · [^·\n]+ elapsed · about [^·\n]+? left"      # after the job's name
FOLDER = "digits224"


def prepare(workdir: Path, depth: int = 12, images: int = 400) -> tuple[Path, Path, Path]:
    """(target file, auxiliary file, data folder): timm ViT-B/16-shaped files of ``depth`` blocks
    and ``images`` digit PNGs under data/<FOLDER>/<class>/, made once."""
    from m2pt_core.data.make_folder import write_folder
    models = workdir / f"vitb_depth{depth}"
    target, aux = write_weights(models, depth=depth)
    data = workdir / f"data{images}"
    if not (data / FOLDER).is_dir():
        write_folder("digits", data / FOLDER, images)
    return target, aux, data


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def _wait_text(page, selector: str, pattern: str, timeout_s: float, unlike: Optional[str] = None) -> str:
    """Wait until the element's text matches ``pattern`` (regex) and differs from ``unlike``."""
    end = time.time() + timeout_s
    rx = re.compile(pattern, re.S)
    while time.time() < end:
        t = _text(page, selector) if page.locator(selector).count() else ""
        if rx.search(t) and t != unlike:
            return t
        page.wait_for_timeout(100)
    raise TimeoutError(f"{selector} never matched {pattern!r}; it shows {_text(page, selector)[:300]!r}")


def _score_line(text: str) -> str:
    """'re-ran k of L blocks in t ms' of the λ score, '' if none."""
    m = re.search(r"re-ran \d+ of \d+ blocks in \d+ ms", text)
    return m.group(0) if m else ""


def _wait_score(page, pattern: str, was: str, timeout_s: float) -> str:
    """Wait for a λ score whose re-ran line matches ``pattern`` and is not ``was`` (a move is
    answered by the slider's input and change events alike; the re-scoring one says which blocks
    it re-ran, the other is a cached answer in 0 ms)."""
    end = time.time() + timeout_s
    while time.time() < end:
        line = _score_line(_text(page, "#lambda-score"))
        if line != was and re.fullmatch(pattern, line):
            return line
        page.wait_for_timeout(50)
    raise TimeoutError(f"the λ score never showed {pattern!r}; it shows {_text(page, '#lambda-score')[:300]!r}")


def _choose(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).click()


def _wait_eta(page, job: str, timeout_s: float, done: Optional[str] = None) -> Optional[str]:
    """Wait for ``job``'s progress line with the time elapsed and left, anywhere on the page (None
    when the job's line matches ``done`` first: it ended before its first estimate)."""
    end = time.time() + timeout_s
    rx = re.compile(re.escape(job) + ETA)
    while time.time() < end:
        m = rx.search(page.locator("body").inner_text())
        if m:
            return m.group(0)
        if done and re.search(done, _text(page, "#pathways-job")):
            return None
        page.wait_for_timeout(100)
    raise TimeoutError("no progress line with the time left appeared")


def drive(page, url: str, target: Path, aux: Path, shots: Optional[Path] = None, stop_knockout: bool = False,
          every_layer: bool = False, depth: int = 12, timeout_s: float = 3600, job_budget_s: Optional[float] = None,
          cpu: Callable[[], float] = lambda: 0.0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The user's steps on an open page; returns {step: seconds, and the page's own lines}.
    ``every_layer``: λ moves on each of the ``depth`` layers (else layers 0 and L-1 only), so every
    knockout probe runs.
    ``job_budget_s``: a sweep, whole-split score or knockout still running after this long is
    stopped with the page's Stop (its last time-left line is kept); ``cpu()``: the server's CPU
    seconds, so each long action also reports the CPU time it used (less disturbed by other load)."""
    out: dict[str, Any] = {}

    def shot(name: str) -> None:
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    def timed(step: str, start: Callable[[], None], done: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        start()
        result = done()
        out[step] = round(time.perf_counter() - t0, 2)
        log(f"{step}: {out[step]:.1f} s")
        return result

    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.get_by_text("Opened", exact=False).first.wait_for(timeout=timeout_s * 1000)
    out["page_load_s"] = round(time.perf_counter() - t0, 2)
    page.get_by_text("Add a checkpoint", exact=False).first.click()
    page.locator("#checkpoint-path textarea, #checkpoint-path input").first.fill(str(aux))
    timed("add_aux_s", lambda: page.get_by_role("button", name="Add checkpoint").click(),
          lambda: _wait_text(page, "#add-status", r"Added \*?\*?file:|Added", timeout_s))
    page.locator("#checkpoint-path textarea, #checkpoint-path input").first.fill(str(target))
    _choose(page, "pretrained-dataset", f"data: {FOLDER}")
    timed("open_target_s", lambda: page.get_by_role("button", name="Open as pretrained target").click(),
          lambda: _wait_text(page, "#models-status", r"Opened \S*pretrained: .*Validation split", timeout_s))
    _choose(page, "aux-dropdown", f"file: {aux.name}")
    status = timed("open_pair_s", lambda: page.get_by_role("button", name="Open", exact=True).click(),
                   lambda: _wait_text(page, "#models-status", rf"with auxiliary \S*file: {re.escape(aux.name)}.*"
                                      r"Validation split", timeout_s))
    out["opened"] = status.splitlines()[0]
    shot("vitb-1-models")

    page.get_by_role("tab", name="Pathways").click()
    # the pair's own first score (the Pathways tab is redrawn after the Models tab says it opened)
    first = _wait_text(page, "#lambda-score", rf"Validation accuracy now.*{FOLDER}.*re-ran", timeout_s)
    out["slider_items"] = re.search(r"\bon ((?:a fixed|all) .+? items of \S+)", first).group(1)

    def long_job(key: str, button: str, job: str, done: str, stop_at_once: bool = False) -> None:
        """Click ``button``; wait for ``job``'s line with the time left; then for ``done`` within
        ``job_budget_s`` (else press Stop, as a user would, and keep the page's last estimate)."""
        c0, t0 = cpu(), time.perf_counter()
        page.get_by_role("button", name=button).click()
        out[f"{key}_progress"] = _wait_eta(page, job, timeout_s, done)    # None: done before a line showed
        end = t0 + (job_budget_s or timeout_s)
        while not stop_at_once and time.perf_counter() < end:
            line = _text(page, "#pathways-job")
            found = re.search(done + "[^\n]*", line)
            if found:
                out[f"{key}_done"], out[f"{key}_s"] = found.group(0), round(time.perf_counter() - t0, 2)
                out[f"{key}_server_cpu_s"] = round(cpu() - c0, 1)
                log(f"{key}: {line}")
                return
            page.wait_for_timeout(500)
        out[f"{key}_progress"] = _wait_eta(page, job, 60)             # the page's latest estimate
        page.get_by_role("button", name="Stop").click()
        t1 = time.perf_counter()
        out[f"{key}_stopped"] = re.search(rf"{re.escape(job)}[^\n]*stopped after[^\n]*", _wait_text(
            page, "#pathways-job", rf"{re.escape(job)}[^\n]*stopped after", 300)).group(0)
        out[f"{key}_stop_latency_s"] = round(time.perf_counter() - t1, 2)
        out[f"{key}_server_cpu_s"] = round(cpu() - c0, 1)
        log(f"{key}: {out[f'{key}_progress']} → {out[f'{key}_stopped']}")

    # A fresh pair (λ = 0 everywhere): the sweep sets absolute λ on every layer (8 real points each).
    long_job("sweep", "Compute λ sweeps", "λ sweep", r"λ sweep .*done in")
    page.wait_for_timeout(1000)
    shot("vitb-2-sweep")

    # λ of layer i → 0.05, layers before it already moved: blocks i..L-1 re-run (layer 0: all of them).
    out["layer_moves"] = {}
    for layer in (range(depth) if every_layer else (0, depth - 1)):
        if layer:
            _choose(page, "lambda-key", f"layer {layer} · all")
            page.wait_for_timeout(500)                      # the slider takes the layer's range
        was = _score_line(_text(page, "#lambda-score"))
        t0 = time.perf_counter()
        page.locator("#lambda-slider input[type=number]").fill("0.05")
        moved = _wait_score(page, rf"re-ran {depth - layer} of {depth} blocks in \d+ ms", was, timeout_s)
        out["layer_moves"][layer] = (round(time.perf_counter() - t0, 2), moved)
        log(f"layer {layer} move: {out['layer_moves'][layer]}")
        if layer == 0:
            out["lambda_move_s"], out["lambda_move_server"] = out["layer_moves"][0]
            long_job("whole_split", "Score λ as set on the whole validation split (on request)",
                     "Scoring the whole validation split", r"Scoring the whole validation split.*done in")
            report = _text(page, "#split-report")
            found = re.search(r"\((all \d+ validation items[^)]*)\)", report)
            out["whole_split"] = found.group(1) if found else report[:200]

    long_job("knockout", "Compute knockout map", "Knockout map", r"Knockout map .*done in", stop_knockout)
    page.wait_for_timeout(1000)
    shot("vitb-3-knockout")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_served(url: str, server: subprocess.Popen, log_path: Path, timeout_s: float = 300) -> None:
    import urllib.request
    end = time.time() + timeout_s
    while time.time() < end:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log_path.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} not served after {timeout_s} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "m2pt_vitb_dashboard")
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--cache-mb", type=int, default=512)
    ap.add_argument("--max-eval", type=int, default=750)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--shots", type=Path, default=ROOT / "test-artifacts" / "screenshots")
    ap.add_argument("--stop-knockout", action="store_true", help="press Stop once the knockout shows its time left")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--every-layer", action="store_true", help="move λ of every layer before the knockout "
                    "(else layers 0 and L-1)")
    ap.add_argument("--job-budget-s", type=float, default=None,
                    help="stop a sweep / whole-split score / knockout still running after this many seconds "
                         "(the page's own time-left estimate is reported)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    target, aux, data = prepare(args.workdir, args.depth, args.images)
    port = args.port or _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    log_path = args.workdir / "server.log"
    t0 = time.perf_counter()
    with open(log_path, "w") as log_file:
        server = subprocess.Popen([sys.executable, str(ROOT / "app" / "main.py"), "--port", str(port),
                                   "--models-dir", str(target.parent), "--data-dir", str(data),
                                   "--cache-mb", str(args.cache_mb), "--max-eval", str(args.max_eval)],
                                  env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_served(f"http://127.0.0.1:{port}/", server, log_path)
        start_s = time.perf_counter() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            out = drive(page, f"http://127.0.0.1:{port}/", target, aux, args.shots, args.stop_knockout,
                        every_layer=args.every_layer, depth=args.depth, job_budget_s=args.job_budget_s,
                        cpu=lambda: cpu_seconds(server.pid))
            browser.close()
        out.update(server_start_s=round(start_s, 1), server_peak_rss_mb=round(peak_rss_mb(server.pid)),
                   depth=args.depth, images=args.images, cache_mb=args.cache_mb, threads=os.cpu_count(),
                   load_average=round(os.getloadavg()[0], 1))
    finally:
        server.terminate()
        server.wait(30)
    print(json.dumps(out, indent=1, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
