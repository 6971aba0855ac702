"""Make the report screenshots in docs/ from the bundled samples, with headless Chromium.

Fits a model on each sample file (seed 0), writes its report with
``vae-detect report`` and renders part of the page with the Debian
``chromium`` package:

    python docs/make_report_screenshot.py       # writes docs/report_tabular.png, docs/report_sensors.png

``tests/report/test_report.py::test_report_renders_in_headless_chromium_without_network``
uses :func:`render_png` to render reports in a real browser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

# Flags that keep a headless Chromium from syncing, updating or phoning home where it can.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium() -> str | None:
    """Path of the Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_png(page: Path, out: Path, width: int = 1100, height: int = 1400, netlog: Path | None = None,
               timeout: float = 120.0) -> None:
    """Render ``page`` (a local HTML file) to the PNG ``out`` in headless Chromium.

    Parameters
    ----------
    page, out : Path
    width, height : int
        Window size in CSS pixels; the screenshot is the window.
    netlog : Path, optional
        Where Chromium writes its network log (``--log-net-log``).
    timeout : float
        Seconds before giving up.

    Raises
    ------
    RuntimeError
        If Chromium is missing or writes no screenshot.
    """
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed (Debian: apt-get install chromium)")
    url = page.resolve().as_uri()  # a #fragment gave blank screenshots in Chromium 156
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={out}", "--virtual-time-budget=5000"]
        if netlog is not None:
            cmd.append(f"--log-net-log={netlog}")
        result = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=timeout)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {result.returncode}): "
                           f"{result.stderr[-2000:]}")


def only_sections(html: str, keep: set[str]) -> str:
    """The page without the sections whose ids are not in ``keep`` (to shoot one part of a long report)."""
    def drop(match: re.Match) -> str:
        return match.group(0) if match.group(1) in keep else ""

    return re.sub(r'<section id="([^"]+)">.*?</section>', drop, html, flags=re.S)


def _vae_detect(where: Path, *args) -> None:
    exe = Path(sys.executable).with_name("vae-detect")
    subprocess.run([str(exe), *map(str, args), "--quiet"], check=True, cwd=where)


def _shrink(png: Path) -> None:
    """Re-encode with a 256-colour palette: a fraction of the size, no visible change for these pages."""
    from PIL import Image

    with Image.open(png) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE)
    small.save(png, optimize=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="report-shots-") as tmp:
        tmp = Path(tmp)
        (tmp / "sample_data").symlink_to(SAMPLE)  # relative paths, as a user would type them
        _vae_detect(tmp, "fit", "sample_data/tabular.parquet", "-m", "tabular.vae", "--exclude", "label",
                    "--seed", "0")
        _vae_detect(tmp, "report", "sample_data/tabular.parquet", "-m", "tabular.vae", "-o", "tabular.html",
                    "--label-column", "label")
        _vae_detect(tmp, "fit", "sample_data/sensors.parquet", "-m", "sensors.vae", "--exclude", "label",
                    "--window", "16", "--time-column", "timestamp", "--group-column", "machine",
                    "--seed", "0")
        _vae_detect(tmp, "report", "sample_data/sensors.parquet", "-m", "sensors.vae", "-o", "sensors.html",
                    "--label-column", "label")
        shots = (("tabular", "report_tabular.png", {"summary", "scores", "top-rows"}, 1500),
                 ("sensors", "report_sensors.png", {"series"}, 1500))
        for sample, name, keep, height in shots:
            page = tmp / f"{sample}.part.html"
            page.write_text(only_sections((tmp / f"{sample}.html").read_text(), keep))
            out = ROOT / "docs" / name
            render_png(page, out, height=height)
            _shrink(out)
            print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
