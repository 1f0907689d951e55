"""End to end: a real browser renders the HTML report of a failing host.

Headless Chromium (Debian's `chromium`, which `make test` installs when it can) takes a
screenshot; the test decodes the PNG and looks for the failure heading's red band in the
first screen, which proves the page rendered and the failures section is visible.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from auditor.reports import html
from tests.conftest import HOSTS, audit_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FAIL_RED = (0xB3, 0x26, 0x1E)  # --fail in reports/html.py
WARN_AMBER = (0xA1, 0x5C, 0x00)  # --warn
WIDTH, HEIGHT = 1280, 900


def browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def screenshot(page: Path, png: Path, profile: Path) -> None:
    """Render a local page to a PNG with headless Chromium, no network, no sandbox (root)."""
    command = [
        str(browser()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=True)


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG layout"
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):  # PNG spec section 9: filter types 0-4
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, bpp


def count_colour(
    rows: list[bytes], bpp: int, colour: tuple[int, int, int], tolerance: int = 6
) -> int:
    found = 0
    for row in rows:
        for x in range(0, len(row), bpp):
            if all(abs(row[x + i] - colour[i]) <= tolerance for i in range(3)):
                found += 1
    return found


@pytest.mark.skipif(browser() is None, reason="no Chromium (Debian package chromium) installed")
def test_browser_renders_a_failing_host_with_failures_visible(tmp_path):
    report = audit_report(HOSTS / "gpu-shares-group-with-usb")
    assert report.verdict().value == "fail"
    page = tmp_path / "report.html"
    page.write_text(html.render(report), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(page, png, tmp_path / "profile")

    width, height, rows, bpp = decode_png(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    white = bytes([255, 255, 255])
    painted = sum(row[x : x + 3] != white for row in rows for x in range(0, len(row), bpp))
    assert painted > width * height // 20, "the page looks blank"
    # The failures heading is a full-width red band (about 1150 x 40 px) in the first screen;
    # the status badges alone are a few hundred pixels each.
    assert count_colour(rows, bpp, FAIL_RED) > 30_000


@pytest.mark.skipif(browser() is None, reason="no Chromium (Debian package chromium) installed")
def test_browser_filters_by_status_without_scripts(tmp_path):
    """Selecting "Warnings" (its radio checked, as a click on the label does) hides failures."""
    page = html.render(audit_report(HOSTS / "reboot-pending"))  # a failure and a warning
    default = 'id="show-all" class="filter-input" checked>'
    assert default in page
    page = page.replace(default, 'id="show-all" class="filter-input">').replace(
        'id="show-warn" class="filter-input">', 'id="show-warn" class="filter-input" checked>'
    )
    (tmp_path / "warn.html").write_text(page, encoding="utf-8")
    screenshot(tmp_path / "warn.html", tmp_path / "warn.png", tmp_path / "profile")
    _, _, rows, bpp = decode_png((tmp_path / "warn.png").read_bytes())
    assert count_colour(rows, bpp, WARN_AMBER) > 30_000  # the warnings band, now first
    assert count_colour(rows, bpp, FAIL_RED) < 5_000  # only the summary's badges
