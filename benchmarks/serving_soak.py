"""One user's long session, scripted through the public API, and the server's memory after it.

    python benchmarks/serving_soak.py                      # 6 rounds ≈ an hour of use, --cache-mb 512
    python benchmarks/serving_soak.py --rounds 2 --zoo /tmp/m2pt-tiny-zoo-...   # quick

Each round is a fresh page (a new session) doing what a person does in about ten minutes: open the
default pair, move λ eight times, try a photo, a WAV on the image model (refused) and an
8000×8000 PNG (refused before decoding), upload a 200-image archive and score it, run a λ sweep,
export, and every other round train a small pair. The server runs with ``--session-ttl`` short
enough that each round's session expires during the next one. Printed: the server's RSS after
start, after the first open (the shared models loaded), after each round, and after the last
session expired, against ``first open + cache cap + margin``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from serving_load import _free_port, rss_mb, start_server  # noqa: E402

MARGIN_MB = 400     # allocator slack and Gradio's own state, stated in docs/results.md


def files(root: Path) -> dict[str, Path]:
    """A photo, a WAV, a huge PNG and a 200-image archive, written once."""
    import numpy as np
    import soundfile as sf
    from PIL import Image
    from m2pt_core.data.make_folder import write_archive, write_folder
    rng = np.random.default_rng(0)
    out = {"photo": root / "photo.jpg", "wav": root / "speech.wav", "huge": root / "huge.png",
           "archive": root / "digits.zip"}
    Image.fromarray((rng.random((480, 640, 3)) * 255).astype(np.uint8)).save(out["photo"])
    sf.write(out["wav"], (0.2 * np.sin(np.linspace(0, 900, 16000))).astype(np.float32), 16000)
    Image.new("L", (8000, 8000), 128).save(out["huge"])
    write_folder("digits", root / "digits", 200)
    write_archive(root / "digits", out["archive"])
    return out


def round_of_use(url: str, target: str, aux: str, f: dict[str, Path], train: bool) -> list[str]:
    """About ten minutes of one person's use, in one new session; returns the errors it met."""
    from gradio_client import Client, handle_file
    client, errors = Client(url, verbose=False), []

    def call(endpoint: str, *args, expect_error: bool = False) -> None:
        try:
            client.predict(*args, api_name=endpoint)
            if expect_error:
                errors.append(f"{endpoint}: accepted what it should refuse")
        except Exception as e:  # noqa: BLE001 - a refusal is the expected answer for bad files
            if not expect_error:
                errors.append(f"{endpoint}: {str(e)[:200]}")

    call("/select_models", target, aux)
    for v in (0.05, 0.1, -0.1, 0.2, 0.0, 0.3, -0.2, 0.15):
        call("/set_lambda", "layer 0 · all", v)
    call("/predict_sample", handle_file(str(f["photo"])), 5)
    call("/predict_sample", handle_file(str(f["wav"])), 5, expect_error=True)
    call("/predict_sample", handle_file(str(f["huge"])), 5, expect_error=True)
    try:
        choice = client.predict(handle_file(str(f["archive"])), api_name="/add_dataset")[-2]
        choice = choice["value"] if isinstance(choice, dict) else choice
        call("/score_dataset", choice, "all", True)
    except Exception as e:  # noqa: BLE001
        errors.append(f"/add_dataset: {str(e)[:200]}")
    call("/sweep")
    call("/export")
    if train:
        call("/train", "digits", aux, 1, 300, 30.0, False, "random")
    return errors


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6, help="rounds of ~10 minutes of use (6: an hour)")
    p.add_argument("--zoo", default=None)
    p.add_argument("--cache-mb", type=int, default=512)
    p.add_argument("--session-ttl", type=float, default=120.0,
                   help="seconds a session outlives its last state update (a round takes ~1 min)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    from m2pt_core.explorer import Catalog
    target, aux = Catalog(args.zoo).default_pair()
    proc = start_server(_free_port(), args.zoo, args.session_ttl, args.cache_mb, args.threads)
    url, pid = f"http://127.0.0.1:{proc.args[proc.args.index('--port') + 1]}/", proc.pid
    ok = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            f = files(Path(tmp))
            print(f"server RSS after start: {rss_mb(pid):.0f} MB; {args.rounds} rounds on {target} + {aux}, "
                  f"--cache-mb {args.cache_mb}, --session-ttl {args.session_ttl:.0f} s, load {os.getloadavg()[0]:.1f}")
            from gradio_client import Client
            Client(url, verbose=False).predict(target, aux, api_name="/select_models")
            opened = rss_mb(pid)
            print(f"after the first open (shared models loaded): {opened:.0f} MB")
            for r in range(args.rounds):
                t0 = time.perf_counter()
                errors = round_of_use(url, target, aux, f, train=r % 2 == 0)
                ok = ok and not errors
                print(f"round {r + 1}: {time.perf_counter() - t0:.0f} s · RSS {rss_mb(pid):.0f} MB · "
                      f"errors {len(errors)}" + (f" ({errors[0]})" if errors else ""))
            time.sleep(2 * args.session_ttl + 5)          # every session has expired (Gradio checks each ttl)
            final, cap = rss_mb(pid), opened + args.cache_mb + MARGIN_MB
            print(f"after every session expired: {final:.0f} MB; target ≤ first open + cache cap + margin = "
                  f"{opened:.0f} + {args.cache_mb} + {MARGIN_MB} = {cap:.0f} MB → {'OK' if final <= cap else 'OVER'}")
            ok = ok and final <= cap
        return 0 if ok else 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
