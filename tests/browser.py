"""Debian's Chromium driven by Playwright, with photos shown to its fake camera: for the
camera app's tests and its benchmark.

Playwright for Python drives the system Chromium (`executable_path`), so nothing downloads
a browser of its own (`playwright install` cannot run offline), and the tests stay in pytest
beside the pipeline they check. Chromium's fake capture device plays a Y4M file as the
camera, looping, so a generated or real photo becomes the camera's view.
"""

import os
import shutil
from pathlib import Path

import numpy as np

# The flags of a headless Chromium on a machine without a network (the background ones
# would otherwise try, and fail, to reach Google's hosts at every start).
QUIET = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    """The system Chromium's path, or None where it is not installed."""
    return os.environ.get("POETS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright, camera: Path | None = None, grant_camera: bool = True, flags: tuple[str, ...] = ()):
    """A headless Chromium: with `camera`, a Y4M file as its camera; `grant_camera` says whether
    the page's request for the camera is allowed (else it is refused, as a person would); `flags`,
    Chromium's own, added."""
    args = [*QUIET, *flags]
    if camera is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}"]
    if camera is not None and grant_camera:
        args.append("--use-fake-ui-for-media-stream")
    if not grant_camera:
        args.append("--deny-permission-prompts")
    return playwright.chromium.launch(executable_path=chromium(), headless=True, args=args)


def bt601(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, Cb, Cr planes (limited range, as Chromium reads a Y4M file) of an RGB image, chroma
    averaged over 2x2 blocks (4:2:0)."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    height, width = y.shape

    def half(plane):
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, half(cb), half(cr)))


def from_bt601(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """The RGB image a player shows for these planes (chroma repeated over its 2x2 blocks)."""
    cb, cr = (np.repeat(np.repeat(p.astype(np.float64), 2, axis=0), 2, axis=1) - 128 for p in (cb, cr))
    luma = (y.astype(np.float64) - 16) * 255 / 219
    r = luma + 1.596 * cr
    g = luma - 0.392 * cb - 0.813 * cr
    b = luma + 2.017 * cb
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def write_y4m(photos: list[Path], path: Path, size=(320, 240), frames_each: int = 30) -> list[np.ndarray]:
    """A Y4M video showing each photo (scaled to cover `size`, centred) for `frames_each` frames
    at 30 a second; returns each photo's frame as RGB, as the video shows it."""
    from PIL import Image

    width, height = size
    shown = []
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for photo in photos:
            with Image.open(photo) as image:
                image = image.convert("RGB")
                scale = max(width / image.width, height / image.height)
                image = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))),
                                     Image.BILINEAR)
                left, top = (image.width - width) // 2, (image.height - height) // 2
                planes = bt601(np.asarray(image.crop((left, top, left + width, top + height))))
            shown.append(from_bt601(*planes))
            frame = b"FRAME\n" + b"".join(p.tobytes() for p in planes)
            video.write(frame * frames_each)
    return shown
