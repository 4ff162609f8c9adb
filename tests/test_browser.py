"""The workbench in a real browser: Voila serves notebooks/00_workbench.ipynb on localhost,
headless Chromium (Debian's package, driven by Playwright) renders it, and a user's clicks
change what is on screen. This is where front-end problems (widgets that never render,
version mismatches between the kernel and the page) get caught."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser_server import chromium, free_port, serve, serve_app, tool

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
#: Rendering a notebook's widgets includes starting a kernel and the first segmentation.
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    """(URL, server process) of the Workbench served as `make app` serves it."""
    # App mode with one folder the path field may open (see deeplab_widgets/widgets/app_policy.py).
    folder = tmp_path_factory.mktemp("app-photos")
    with serve_app(tmp_path_factory.mktemp("voila"), env={"DEEPLAB_WIDGETS_APP_FOLDER": str(folder)}) as served:
        yield served


def serve_lab(notebook: Path, root: Path):
    """Serve JupyterLab on a free port with a copy of `notebook` in `root`; yields the notebook's URL."""
    port = free_port()
    shutil.copy(notebook, root)
    command = [
        tool("jupyter"),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--allow-root",
    ]
    with serve(command, port, root / "lab.log", root):
        yield f"http://127.0.0.1:{port}/lab/tree/{notebook.name}"


#: True once the notebook in focus has a kernel whose websocket is connected and that is idle: a run sent then
#: reaches it (one sent earlier can be lost).
KERNEL_READY = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel) && kernel.connectionStatus === "connected" && kernel.status === "idle";
}"""


def run_all_in_lab(page, url: str, done: str) -> None:
    """Open the notebook at `url` in JupyterLab, run all its cells once its kernel is ready, wait for `done`."""
    page.goto(url, timeout=TIMEOUT_MS)
    page.wait_for_selector(".jp-Notebook", timeout=TIMEOUT_MS)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands", timeout=TIMEOUT_MS)
    # JupyterLab may ask which kernel to start: take the preferred one, as a user would.
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(KERNEL_READY):
        assert time.monotonic() < deadline, "the notebook's kernel did not start"
        if page.is_visible(".jp-Dialog button.jp-mod-accept"):
            page.click(".jp-Dialog button.jp-mod-accept")
        page.wait_for_timeout(250)
    # Not awaited: the command's promise settles only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_selector(done, timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    yield from serve_lab(ROOT / "notebooks" / "00_workbench.ipynb", tmp_path_factory.mktemp("lab"))


GRACE_FACE = (280, 200)  # (x, y) in grace_hopper.bmp (512x600): her face
GRACE_BACKGROUND = (40, 100)  # the backdrop left of her head
VIEWER = ".dlw-workbench .dlw-main-viewer"


def revision(page, selector: str = VIEWER) -> int:
    return page.eval_on_selector(selector, "v => Number(v.dataset.revision || 0)")


def wait_for_result(page, after: int = 0, selector: str = VIEWER) -> int:
    """Wait until the viewer has drawn a result newer than revision `after`; returns its revision."""
    page.wait_for_function(
        "([sel, after]) => { const v = document.querySelector(sel); return v && Number(v.dataset.revision || 0) > after; }",
        arg=[selector, after],
        timeout=TIMEOUT_MS,
    )
    return revision(page, selector)


def view(page, selector: str = VIEWER) -> dict:
    """The canvas transform: photo pixel (x, y) is drawn at offset + (x, y) * scale in CSS pixels."""
    return (
        page.locator(selector)
        .locator(".dlw-canvas")
        .evaluate(
            """c => { const r = c.getBoundingClientRect(); return {left: r.left, top: r.top,
            scale: Number(c.dataset.scale), ox: Number(c.dataset.offsetX), oy: Number(c.dataset.offsetY)}; }"""
        )
    )


def hover(page, x: int, y: int, selector: str = VIEWER) -> str:
    """Move the pointer over photo pixel (x, y); returns the readout's text."""
    page.locator(selector).locator(".dlw-canvas").scroll_into_view_if_needed()
    v = view(page, selector)
    page.mouse.move(v["left"] + v["ox"] + (x + 0.5) * v["scale"], v["top"] + v["oy"] + (y + 0.5) * v["scale"])
    return page.locator(selector).locator(".dlw-readout").inner_text()


def wait_for_scale_change(page, before: float, selector: str = VIEWER) -> None:
    page.wait_for_function(
        "([sel, before]) => Number(document.querySelector(sel + ' .dlw-canvas').dataset.scale) !== before",
        arg=[selector, before],
        timeout=10_000,
    )


def canvas_digest(page, selector: str = VIEWER) -> str:
    data = page.eval_on_selector(
        f"{selector} .dlw-canvas",
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return Array.from(d.filter((_, i) => i % 97 === 0)); }""",
    )
    assert len(data) > 100, "the canvas is empty"
    return hashlib.sha1(bytes(data)).hexdigest()


def explore_grace_hopper(page, tmp_path: Path) -> None:
    """Hover, zoom and download the mask of the grace_hopper sample (the starter model)."""
    before = revision(page)
    page.click(".dlw-sample-grace_hopper", timeout=TIMEOUT_MS)
    wait_for_result(page, before)
    page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=person", timeout=TIMEOUT_MS)
    assert "person" in hover(page, *GRACE_FACE)
    assert "background" in hover(page, *GRACE_BACKGROUND)
    x, y = map(int, re.search(r"x (\d+), y (\d+)", page.inner_text(f"{VIEWER} .dlw-readout")).groups())
    assert abs(x - GRACE_BACKGROUND[0]) <= 1 and abs(y - GRACE_BACKGROUND[1]) <= 1  # mouse positions are whole CSS px

    fit = view(page)["scale"]
    page.click(f"{VIEWER} .dlw-zoom-in")
    wait_for_scale_change(page, fit)
    zoomed = view(page)["scale"]
    assert zoomed > fit * 1.4
    page.click(f"{VIEWER} .dlw-zoom-out")
    wait_for_scale_change(page, zoomed)
    assert abs(view(page)["scale"] - fit) < 1e-6
    assert "person" in hover(page, *GRACE_FACE)  # the readout follows the transform

    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.click(f"{VIEWER} .dlw-download-mask")
    target = tmp_path / "mask.png"
    info.value.save_as(target)
    from deeplab_widgets import Segmenter, load_sample
    from deeplab_widgets.core.export import save_mask

    result = Segmenter("deeplabv3-starter").segment(load_sample("grace_hopper"))
    mask = Image.open(target)  # made in the browser from the model-resolution map it received
    assert mask.mode == "P"
    np.testing.assert_array_equal(np.asarray(mask), result.labels)
    reference = Image.open(save_mask(result, tmp_path / "reference.png"))  # what `segment --out` writes
    assert mask.getpalette()[: 3 * 21] == reference.getpalette()[: 3 * 21]  # the dataset's colours

    with page.expect_download(timeout=TIMEOUT_MS) as info:
        page.click(f"{VIEWER} .dlw-download-overlay")
    assert info.value.suggested_filename.endswith("_overlay.png")
    info.value.save_as(tmp_path / "overlay.png")
    overlay = np.asarray(Image.open(tmp_path / "overlay.png").convert("RGB"), np.int16)
    photo = np.asarray(load_sample("grace_hopper").convert("RGB"), np.int16)
    assert overlay.shape == photo.shape, "the overlay comes at the photo's size, whatever the zoom"
    person = result.labels == result.class_names.index("person")
    assert np.abs(overlay - photo)[person].mean() > 20, "the person is tinted with its class colour"


def test_workbench_renders_and_responds_in_voila(browser, voila, tmp_path) -> None:
    voila_url, _ = voila
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        first = wait_for_result(page)
        page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=cat", timeout=TIMEOUT_MS)
        cat = canvas_digest(page)

        explore_grace_hopper(page, tmp_path)

        # Opacity and modes redraw in the browser: no new result comes from the kernel.
        shown = revision(page)
        assert shown > first
        page.fill(f"{VIEWER} .dlw-alpha input", "0.2")
        page.dispatch_event(f"{VIEWER} .dlw-alpha input", "input")
        lighter = canvas_digest(page)
        assert lighter != cat
        buttons = page.locator(f"{VIEWER} .dlw-zoom-in").bounding_box()
        page.click(f"{VIEWER} .dlw-mode-button[data-mode='mask']")
        assert canvas_digest(page) != lighter
        assert page.is_disabled(f"{VIEWER} .dlw-alpha input")  # no effect in mask mode: greyed, kept in place
        assert page.locator(f"{VIEWER} .dlw-zoom-in").bounding_box() == buttons, "the toolbar's buttons stay put"
        page.click(f"{VIEWER} .dlw-legend-row[data-class-id='15']")  # hide "person"
        assert "background" in hover(page, *GRACE_BACKGROUND)
        page.click(f"{VIEWER} .dlw-mode-button[data-mode='confidence']")
        assert page.is_visible(f"{VIEWER} .dlw-colorbar >> text=confidence")
        assert not page.is_visible(f"{VIEWER} .dlw-legend")
        assert revision(page) == shown

        # Compare: a second model on the same photo, the disagreement share, hover synchronised across views.
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Compare")
        page.wait_for_selector(".dlw-disagreement >> text=/disagree on \\d+\\.\\d%/", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => document.querySelectorAll('.dlw-compare .dlw-viewer[data-revision]').length === 3",
            timeout=TIMEOUT_MS,
        )
        a, b = ".dlw-compare .dlw-viewer >> nth=0", ".dlw-compare .dlw-viewer >> nth=1"
        assert "person" in hover(page, *GRACE_FACE, selector=a)
        assert re.search(r"x \d+, y \d+", page.locator(b).locator(".dlw-readout").inner_text())  # B follows A's pointer
        page.screenshot(path=str(tmp_path / "compare.png"))
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Segment")

        # A long benchmark runs in the background: the Segment tab still segments a newly clicked sample; Stop ends it.
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Benchmark")
        models = page.eval_on_selector_all(".widget-select-multiple select option", "os => os.map(o => o.value)")
        page.select_option(".widget-select-multiple select", models)
        page.click(".dlw-bench-run")
        page.wait_for_selector(".dlw-bench-stop:not([disabled])", timeout=TIMEOUT_MS)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Segment")
        before = revision(page)
        page.click(".dlw-sample-bird")
        wait_for_result(page, before)
        page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=bird", state="attached", timeout=TIMEOUT_MS)
        assert page.is_enabled(".dlw-bench-stop")  # still benchmarking
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Benchmark")
        page.click(".dlw-bench-stop")
        page.wait_for_selector(".dlw-bench-status >> text=stopped after", timeout=15_000)
        assert re.search(r"stopped after \d+ of \d+ configurations", page.inner_text(".dlw-bench-status"))
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Segment")
        shown = revision(page)

        # App mode: a server path outside the app's folder is refused without saying whether it exists; no delegate.
        refusals = []
        for path in ("/etc/hostname", "/etc/no-such-file"):
            page.fill(".dlw-path input", path)
            page.press(".dlw-path input", "Enter")
            page.wait_for_selector(f'.dlw-picker-status:has-text("{path}")', timeout=TIMEOUT_MS)
            refusals.append(page.inner_text(".dlw-picker-status").replace(path, "PATH"))
        assert refusals[0] == refusals[1] and "only files in its own folder" in refusals[0]
        assert revision(page) == shown
        assert page.locator(".dlw-delegate").count() == 0 or not page.is_visible(".dlw-delegate input")

        # Change the model to the Cityscapes one: its classes replace VOC's.
        labels = page.eval_on_selector_all(".dlw-model select option", "os => os.map(o => o.label)")
        cityscapes = next(label for label in labels if label.startswith("deeplab-edgetpu-slim-cityscapes"))
        page.click(f"{VIEWER} .dlw-mode-button[data-mode='overlay']")
        page.select_option(".dlw-model select", label=cityscapes)
        page.wait_for_selector(
            f"{VIEWER} .dlw-legend >> text=/road|sidewalk|building|vegetation|terrain/", timeout=TIMEOUT_MS
        )
        assert "Traceback" not in page.inner_text("body")
        assert page.locator('[title="null"]').count() == 0  # every control has a real tooltip or none
    finally:
        page.screenshot(path=str(tmp_path / "workbench.png"), full_page=True)
        page.close()
    assert (tmp_path / "workbench.png").stat().st_size > 10_000


#: Test instrumentation: logs every `createImageBitmap` call (time and bytes) before the page's scripts run.
LOG_DECODES = """
window.testDecodes = [];
const decode = window.createImageBitmap.bind(window);
window.createImageBitmap = (source, ...rest) => {
  window.testDecodes.push({ at: performance.now(), bytes: source.size || 0 });
  return decode(source, ...rest);
};
"""


def test_a_clicked_photo_is_decoded_once_while_the_kernel_segments_it(browser, voila) -> None:
    from deeplab_widgets import load_sample
    from deeplab_widgets.widgets.viewer_payload import photo_jpeg

    voila_url, _ = voila
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(LOG_DECODES)
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        before = wait_for_result(page)
        page.evaluate(
            """sel => { window.testPainted = [];
            document.querySelector(sel).addEventListener("dlw-painted", e => window.testPainted.push(e.detail)); }""",
            VIEWER,
        )
        page.click(".dlw-sample-bird")
        after = wait_for_result(page, before)
        size = len(photo_jpeg(load_sample("bird")))
        decodes = [d for d in page.evaluate("window.testDecodes") if d["bytes"] == size]
        painted = next(p for p in page.evaluate("window.testPainted") if p["revision"] == after)
        assert len(decodes) == 1, "the bird's JPEG is decoded once"
        assert decodes[0]["at"] < painted["received"], "its decoding starts before the result arrives"
        page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=bird", state="attached", timeout=TIMEOUT_MS)
    finally:
        page.close()


def test_workbench_runs_in_jupyterlab(browser, lab_url, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        run_all_in_lab(page, lab_url, f"{VIEWER}[data-revision]")
        wait_for_result(page)
        page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=cat", timeout=TIMEOUT_MS)
        canvas_digest(page)
        assert page.inner_text(".dlw-upload").strip() == "Upload photo"  # no "Upload (0)" counter
        explore_grace_hopper(page, tmp_path)
        assert "Traceback" not in page.inner_text(".jp-Notebook")
    finally:
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))
        page.close()


#: Buttons, labels, legend names and dropdowns of the visible tab whose text does not fit their box.
TRUNCATED = """root => {
  const out = [];
  const ctx = document.createElement('canvas').getContext('2d');
  for (const el of root.querySelectorAll('button, .widget-label, .dlw-name, select')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (el.tagName === 'SELECT') {
      const style = getComputedStyle(el);
      ctx.font = `${style.fontSize} ${style.fontFamily}`;
      // A list shows every option; a dropdown shows the chosen one, and any option may be chosen.
      for (const option of el.options) {
        const room = el.multiple ? el.clientWidth - 4 : el.clientWidth - 24;  // 24 px: the arrow
        if (ctx.measureText(option.text).width > room) out.push('select: ' + option.text);
      }
    } else if (el.scrollWidth > el.clientWidth + 1) {
      out.push(el.tagName.toLowerCase() + ': ' + el.textContent.trim());
    }
  }
  return out;
}"""


def box(page, selector: str) -> dict:
    return page.locator(selector).first.evaluate(
        "e => { const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }"
    )


def test_picture_on_the_first_screen_at_800x600_and_nothing_cut_at_1280(browser, voila) -> None:
    voila_url, _ = voila
    page = browser.new_page(viewport={"width": 800, "height": 600})
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        wait_for_result(page)
        canvas = box(page, f"{VIEWER} .dlw-canvas")
        assert canvas["top"] < 600 - 100, f"the picture starts at {canvas['top']:.0f} px"  # 100 px of it in view
        assert page.is_visible(f"{VIEWER} .dlw-canvas")
        assert box(page, ".dlw-runtime-controls")["top"] >= canvas["bottom"]  # the side panel under the picture
        assert page.eval_on_selector(".dlw-gallery", TRUNCATED) == []  # the gallery scrolls: names stay whole

        page.set_viewport_size({"width": 1280, "height": 900})
        page.click(".dlw-sample-grace_hopper")
        page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=person", timeout=TIMEOUT_MS)
        canvas = box(page, f"{VIEWER} .dlw-canvas")
        assert box(page, ".dlw-runtime-controls")["left"] >= canvas["right"]  # wide: the side panel beside it
        assert box(page, f"{VIEWER} .dlw-legend")["left"] >= canvas["right"]
        assert page.eval_on_selector(".dlw-workbench", TRUNCATED) == []  # every model's name in the list too
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Benchmark")
        page.wait_for_selector(".dlw-bench-run", timeout=TIMEOUT_MS)
        assert page.eval_on_selector(".dlw-timing-panel", TRUNCATED) == []
    finally:
        page.close(run_before_unload=True)  # so that Voila shuts its kernel down


#: For each canvas under `root`: its box, and whether the element at its centre is the canvas itself.
CANVAS_CENTRES = """root => [...root.querySelectorAll('.dlw-canvas')].map(c => {
  const r = c.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
          hit: document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === c};
})"""


def test_compare_fits_a_1280x900_screen_with_the_three_views_in_sync(browser, voila, tmp_path) -> None:
    voila_url, _ = voila
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    compare = ".dlw-compare"
    views = [f"{compare} .dlw-viewer >> nth={i}" for i in range(3)]
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        before = wait_for_result(page)
        page.click(".dlw-sample-grace_hopper")  # a portrait photo: the taller case
        wait_for_result(page, before)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Compare")
        page.wait_for_selector(".dlw-disagreement >> text=/disagree on \\d+\\.\\d%/", timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.dlw-compare .dlw-viewer')].filter(v => v.dataset.revision).length === 3",
            timeout=TIMEOUT_MS,
        )
        page.eval_on_selector(".dlw-compare-tab", "tab => tab.scrollIntoView({block: 'start'})")
        canvases = page.eval_on_selector(compare, CANVAS_CENTRES)
        assert len(canvases) == 3 and all(c["hit"] for c in canvases), canvases
        assert all(c["top"] >= 0 and c["bottom"] <= 900 for c in canvases), "each picture is wholly on screen"
        for i, canvas in enumerate(canvases):  # each readout and legend under its own picture, in its column
            for part in (".dlw-readout", ".dlw-legend"):
                own = (
                    page.locator(views[i])
                    .locator(part)
                    .evaluate(
                        "e => { const r = e.getBoundingClientRect(); return {top: r.top, left: r.left, right: r.right}; }"
                    )
                )
                assert (
                    own["top"] >= canvas["bottom"] and canvas["left"] <= own["left"] < own["right"] <= canvas["right"]
                )
        assert page.eval_on_selector(compare, TRUNCATED) == []
        page.screenshot(path=str(tmp_path / "compare-1280x900.png"))

        # Zoom, pan and hover stay shared by the three views.
        scales = "() => [...document.querySelectorAll('.dlw-compare .dlw-canvas')].map(c => Number(c.dataset.scale))"
        fit = page.evaluate(scales)
        page.locator(views[0]).locator(".dlw-zoom-in").click()
        page.wait_for_function(f"() => ({scales})().every((s, i) => s > {fit}[i] * 1.4)", timeout=10_000)
        zoomed = page.evaluate(scales)
        assert zoomed == [pytest.approx(zoomed[0])] * 3
        page.locator(views[0]).locator(".dlw-zoom-reset").click()
        assert "person" in hover(page, *GRACE_FACE, selector=views[0])
        at = re.search(r"x \d+, y \d+", page.locator(views[0]).locator(".dlw-readout").inner_text())[0]
        for v in views[1:]:
            assert at in page.locator(v).locator(".dlw-readout").inner_text()  # the same pixel in B and the map
    finally:
        page.close(run_before_unload=True)


def test_upload_buttons_read_a_plain_label_and_an_upload_is_segmented(browser, voila, tmp_path) -> None:
    from deeplab_widgets import load_sample

    voila_url, _ = voila
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        first = wait_for_result(page)
        assert page.inner_text(".dlw-upload").strip() == "Upload photo"
        # 14.7 MB: over the server's 10 MiB websocket message limit, so it only arrives in chunks.
        big = tmp_path / "grace_big.bmp"
        photo = load_sample("grace_hopper")
        photo.resize((photo.width * 4, photo.height * 4), Image.Resampling.NEAREST).save(big)
        assert big.stat().st_size > 10 * 2**20
        page.set_input_files(".dlw-upload input[type=file]", str(big))
        wait_for_result(page, first)
        page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=person", timeout=TIMEOUT_MS)
        assert "upload grace_big.bmp (2048x2400)" in page.inner_text(".dlw-picker-status")
        assert "person" in hover(page, GRACE_FACE[0] * 4, GRACE_FACE[1] * 4)
        assert page.inner_text(".dlw-upload").strip() == "Upload photo"  # still no counter after an upload

        labels = page.eval_on_selector_all(".dlw-model select option", "os => os.map(o => o.label)")
        page.select_option(
            ".dlw-model select", label=next(x for x in labels if x.replace("\xa0", " ").startswith("load a"))
        )
        assert page.inner_text(".dlw-model-upload").strip() == "Upload .tflite"
        assert page.inner_text(".dlw-labels-upload").strip() == "Labels .txt"
        assert page.locator(".dlw-upload-button >> text=/\\(\\d+\\)/").count() == 0
    finally:
        page.close(run_before_unload=True)  # so that Voila shuts its kernel down


def test_five_visitors_at_once_all_see_their_result(browser, voila) -> None:
    # Closing pages frees their kernels: tests/test_app_server.py. Here: five visitors at once (one browser
    # context each: separate connections, as separate people would have).
    url, _ = voila
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(5)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        for page in pages:
            wait_for_result(page)
            page.wait_for_selector(f"{VIEWER} .dlw-legend >> text=cat", timeout=TIMEOUT_MS)
    finally:
        for context in contexts:
            context.close()


def test_output_stride_tab_derives_the_model_in_the_app(browser, voila, tmp_path) -> None:
    voila_url, _ = voila
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        wait_for_result(page)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Output stride")
        explorer = ".dlw-stride-explorer"
        page.wait_for_selector(
            f"{explorer} .dlw-stride-table >> text=agreement with the model as it is", timeout=TIMEOUT_MS
        )
        drawn = revision(page, f"{explorer} .dlw-viewer")
        page.click(f"{explorer} button:has-text('16')")
        page.wait_for_selector(f"{explorer} .dlw-stride-table >> text=17x17", timeout=TIMEOUT_MS)
        wait_for_result(page, drawn, f"{explorer} .dlw-viewer")
        assert "deeplabv3-starter OS 16 257px" in page.inner_text(f"{explorer} .dlw-stride-status")
        assert page.eval_on_selector(explorer, TRUNCATED) == []
        page.screenshot(path=str(tmp_path / "output-stride.png"))
    finally:
        page.close(run_before_unload=True)


def test_quantize_tab_quantizes_the_starter_and_its_result_becomes_the_chosen_model(browser, voila, tmp_path) -> None:
    voila_url, _ = voila
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(voila_url, timeout=TIMEOUT_MS)
        wait_for_result(page)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Quantize")
        from deeplab_widgets.workflows.quantize import RECIPE_NOTES

        page.select_option(".dlw-quantize-recipe select", label=f"weight-only-int8: {RECIPE_NOTES['weight-only-int8']}")
        page.click(".dlw-quantize-run")
        page.wait_for_selector(".dlw-quantize-table table >> text=weight-only-int8", timeout=TIMEOUT_MS)
        assert "2.78 MB -> 0.85 MB" in page.inner_text(".dlw-quantize-status")
        assert page.eval_on_selector(".dlw-quantize-panel", TRUNCATED) == []
        page.screenshot(path=str(tmp_path / "quantize-tab.png"))
        page.click(".dlw-quantize-use")
        page.wait_for_selector(".dlw-quantize-status >> text=is now the chosen model", timeout=TIMEOUT_MS)
        page.click(".dlw-workbench .lm-TabBar-tab >> text=Segment")
        chosen = page.eval_on_selector(".dlw-model select", "s => s.options[s.selectedIndex].text")
        assert chosen.replace("\xa0", " ") == "deeplabv3-starter weight-only-int8 (file)"
        page.wait_for_selector(".dlw-status >> text=weight-only-int8", timeout=TIMEOUT_MS)  # the Segment tab ran it
        assert "Traceback" not in page.inner_text("body")
    finally:
        page.screenshot(path=str(tmp_path / "quantize.png"), full_page=True)
        page.close(run_before_unload=True)
