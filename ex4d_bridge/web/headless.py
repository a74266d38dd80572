"""Drive the viewer page in headless Chromium (tests and ``bench/web.py``): open it, wait for
frames, set an exact camera, read the canvas back. Needs selenium and a Chromium with its
chromedriver (Debian: ``apt-get install chromium chromium-driver``); WebGL runs on SwiftShader,
the software GL, so no GPU is needed."""

from __future__ import annotations

import base64
import io
import shutil
import time

import numpy as np

from ..camera import Intrinsics
from ..errors import Ex4dError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    # WebGL2 on the CPU: SwiftShader through ANGLE (Chromium asks for the opt-in).
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--window-size=800,600",
)


def find_chromium() -> tuple[str, str] | None:
    """(browser, chromedriver) paths, or None when either is missing."""
    browser = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def intrinsics_js(k: Intrinsics) -> dict:
    return {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy, "width": k.width, "height": k.height}


class Page:
    """One headless Chromium showing the viewer; ``init_script`` runs before the page's own
    scripts (e.g. a mock ``navigator.xr``)."""

    def __init__(self, init_script: str | None = None, timeout_s: float = 60.0) -> None:
        found = find_chromium()
        if found is None:
            raise Ex4dError("headless tests need chromium and chromedriver on PATH")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.binary_location = found[0]
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(found[1]), options=options)
        self.timeout_s = timeout_s
        if init_script:
            self.driver.execute_cdp_cmd(
                "Page.addScriptToEvaluateOnNewDocument", {"source": init_script}
            )

    def close(self) -> None:
        self.driver.quit()

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def console(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser")]

    def wait_for(self, script: str, what: str, timeout_s: float | None = None):
        """Poll ``return <script>`` until truthy; a page error or the timeout fails with the
        page's console."""
        end = time.monotonic() + (timeout_s or self.timeout_s)
        while time.monotonic() < end:
            value = self.js(f"return {script}")
            if value:
                return value
            err = self.js("return window.ex4d && window.ex4d.state.error")
            if err:
                raise Ex4dError(f"the page failed while waiting for {what}: {err}")
            time.sleep(0.05)
        raise Ex4dError(f"timed out waiting for {what}; console: {self.console()[-10:]}")

    def open(self, url: str, frames: int = 1) -> float:
        """Load the page and wait until ``frames`` frames are on the GPU and one is drawn;
        returns the seconds to the first drawn frame."""
        t0 = time.monotonic()
        self.driver.get(url)
        self.wait_for("window.ex4d && window.ex4d.state.firstFrameDrawn", "the first frame")
        first = time.monotonic() - t0
        self.wait_for(f"window.ex4d.loaded() >= {int(frames)}", f"{frames} frames")
        return first

    def set_view(self, c2w: np.ndarray, k: Intrinsics, frame: int = 0) -> None:
        """Show source frame ``frame`` from the OpenCV camera-to-world ``c2w`` through ``k``."""
        rows = [float(v) for v in np.asarray(c2w, np.float64).reshape(16)]
        self.js(
            "window.ex4d.setView(arguments[0], arguments[1], arguments[2])",
            rows,
            intrinsics_js(k),
            int(frame),
        )

    def capture(self) -> np.ndarray:
        """The canvas as (H, W, 3) uint8 RGB."""
        from PIL import Image

        url = self.js("return window.ex4d.capture()")
        data = base64.b64decode(url.split(",", 1)[1])
        return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def image_diff(a: np.ndarray, b: np.ndarray, threshold: int = 24) -> dict[str, float]:
    """Per-pixel comparison of two RGB images: mean absolute difference (0..255) and the
    fraction of pixels whose largest channel difference exceeds ``threshold``."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
    return {"mean_abs": float(d.mean()), "bad_fraction": float((d > threshold).mean())}
