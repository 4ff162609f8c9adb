// The deeplab-widgets viewer: composites a segmentation result on a canvas in the browser.
// The kernel sends once per result: the photo (JPEG), the class map (palette PNG, pixel value = class id; at
// another resolution than the photo, e.g. a video frame's at the model's, it is scaled nearest neighbour),
// the colour map, class names and top-3 probabilities; alpha, modes, class toggles, zoom, pan and the hover
// readout never go back to the kernel. Views with the same `sync_group` share zoom, pan and hover.

const MODES = ["overlay", "mask", "side by side", "boundaries", "confidence", "entropy"];
const HEAT = ["confidence", "entropy"];
const NO_ALPHA = ["mask", "side by side"];
const FOLD = 0.001; // classes under 0.1% of the pixels fold into "n more"
const GAP = 8; // pixels between the halves of "side by side"
const ZOOM_STEP = 1.25;
const MAX_ZOOM = 64;

function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// Decode a palette (or grey) PNG to its pixel values: the class ids, which a browser's own decoder loses.
async function decodeIndexedPng(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 8, colorType = 3, interlace = 0;
  const chunks = [];
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    if (type === "IHDR") {
      width = view.getUint32(pos + 8);
      height = view.getUint32(pos + 12);
      depth = bytes[pos + 16];
      colorType = bytes[pos + 17];
      interlace = bytes[pos + 20];
    } else if (type === "IDAT") {
      chunks.push(bytes.subarray(pos + 8, pos + 8 + length));
    } else if (type === "IEND") {
      break;
    }
    pos += 12 + length;
  }
  if ((colorType !== 3 && colorType !== 0) || interlace || depth > 8) {
    throw new Error("the class map must be an 8-bit palette PNG");
  }
  const raw = await inflate(new Blob(chunks));
  const stride = Math.ceil((width * depth) / 8);
  const out = new Uint8Array(width * height);
  let prev = new Uint8Array(stride);
  let line = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const start = y * (stride + 1);
    const filter = raw[start];
    for (let i = 0; i < stride; i++) {
      const a = i > 0 ? line[i - 1] : 0;
      const b = prev[i];
      const c = i > 0 ? prev[i - 1] : 0;
      let x = raw[start + 1 + i];
      if (filter === 1) x += a;
      else if (filter === 2) x += b;
      else if (filter === 3) x += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        x += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = x & 255;
    }
    if (depth === 8) {
      out.set(line.subarray(0, width), y * width);
    } else {
      const per = 8 / depth, mask = (1 << depth) - 1;
      for (let x = 0; x < width; x++) {
        out[y * width + x] = (line[(x / per) | 0] >> (8 - depth * ((x % per) + 1))) & mask;
      }
    }
    [prev, line] = [line, prev];
  }
  return { width, height, data: out };
}

// A class map at another resolution than the photo (a video frame's, at the model's) scaled to the photo's
// size, nearest neighbour: the layers, the readout and the legend shares then work in photo pixels.
function scaleLabels(mask, width, height) {
  if (mask.width === width && mask.height === height) return mask;
  const out = new Uint8Array(width * height);
  const xs = new Uint32Array(width);
  for (let x = 0; x < width; x++) xs[x] = Math.min(mask.width - 1, Math.floor(((x + 0.5) * mask.width) / width));
  for (let y = 0; y < height; y++) {
    const row = Math.min(mask.height - 1, Math.floor(((y + 0.5) * mask.height) / height)) * mask.width;
    const base = y * width;
    for (let x = 0; x < width; x++) out[base + x] = mask.data[row + xs[x]];
  }
  return { width, height, data: out };
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function hex(colormap, id) {
  const r = colormap[3 * id], g = colormap[3 * id + 1], b = colormap[3 * id + 2];
  return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
}

function percent(fraction) {
  return fraction >= FOLD ? `${(fraction * 100).toFixed(1)}%` : "<0.1%";
}

function canvasOf(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function download(bytesOrBlob, name, type) {
  const blob = bytesOrBlob instanceof Blob ? bytesOrBlob : new Blob([bytesOrBlob], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function render({ model, el: root }) {
  // Unique across module instances (each widget may load its own copy of this module).
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const st = {
    ready: false,
    photo: null, // ImageBitmap
    W: 0,
    H: 0,
    labels: null,
    counts: null,
    names: [],
    colormap: new Uint8Array(768),
    scores: null, // {h, w, c, top, prob, ent}
    colour: null, // canvas: class colours, hidden classes transparent
    edges: null,
    heat: {},
    zoom: 1,
    cx: null, // photo point at the canvas centre
    cy: null,
    pinned: null,
    hover: null,
    pending: null, // {kind, t0}: an input whose repaint is being timed
    token: 0,
  };
  window.dlwLatencies = window.dlwLatencies || [];

  root.classList.add("dlw-viewer");
  root.tabIndex = 0;
  const toolbar = el("div", "dlw-toolbar");
  const modes = el("div", "dlw-modes");
  const modeButtons = {};
  for (const mode of MODES) {
    const button = el("button", "dlw-mode-button", mode);
    button.type = "button";
    button.dataset.mode = mode;
    button.title = `show the result as ${mode}`;
    button.addEventListener("click", (event) => setTrait("mode", mode, "mode", event));
    modeButtons[mode] = button;
    modes.appendChild(button);
  }
  const alphaLabel = el("label", "dlw-alpha");
  alphaLabel.appendChild(el("span", "", "opacity"));
  const alpha = el("input");
  alpha.type = "range";
  alpha.min = "0";
  alpha.max = "1";
  alpha.step = "0.05";
  alpha.title = "opacity of the colours over the photo";
  alpha.addEventListener("input", (event) => setTrait("alpha", Number(alpha.value), "alpha", event));
  alphaLabel.appendChild(alpha);
  const zoomIn = el("button", "dlw-zoom-in", "+");
  zoomIn.title = "zoom in (or the mouse wheel)";
  const zoomOut = el("button", "dlw-zoom-out", "−");
  zoomOut.title = "zoom out";
  const zoomReset = el("button", "dlw-zoom-reset", "fit");
  zoomReset.title = "show the whole photo (or double-click the picture)";
  const saveMask = el("button", "dlw-download-mask", "class map PNG");
  saveMask.title = "download the class map: a palette PNG, pixel value = class id";
  const saveOverlay = el("button", "dlw-download-overlay", "picture PNG");
  saveOverlay.title = "download the picture as shown (mode, opacity, hidden classes) at the photo's size";
  for (const b of [zoomIn, zoomOut, zoomReset, saveMask, saveOverlay]) b.type = "button";
  const zoomBox = el("div", "dlw-zoom");
  zoomBox.append(zoomOut, zoomIn, zoomReset);
  const saveBox = el("div", "dlw-downloads");
  saveBox.append(el("span", "dlw-downloads-label", "download:"), saveMask, saveOverlay);
  toolbar.append(modes, alphaLabel, zoomBox, saveBox);

  const stage = el("div", "dlw-stage");
  const canvas = el("canvas", "dlw-canvas");
  stage.appendChild(canvas);
  const readout = el("div", "dlw-readout", "move the pointer over the picture");
  const note = el("div", "dlw-note");
  const legend = el("div", "dlw-legend");
  const colorbar = el("div", "dlw-colorbar");
  const side = el("div", "dlw-side");
  side.append(readout, legend, colorbar);
  const body = el("div", "dlw-body");
  body.append(stage, side);
  root.append(toolbar, body, note);

  // `event.timeStamp` (same clock as performance.now()) starts the latency clock at the input event itself.
  function setTrait(name, value, kind, event) {
    st.pending = { kind, t0: event && event.timeStamp ? event.timeStamp : performance.now() };
    model.set(name, value);
    model.save_changes();
  }

  // --- geometry ---------------------------------------------------------------------------------------
  function contentSize() {
    const sbs = model.get("mode") === "side by side";
    return { w: sbs ? 2 * st.W + GAP : st.W, h: st.H };
  }

  function layoutCanvas() {
    const width = Math.max(1, stage.clientWidth || root.clientWidth || 640);
    const { w, h } = contentSize();
    const maxHeight = Math.max(200, window.innerHeight * (Number(model.get("fit_height")) || 0.75));
    const height = Math.max(1, Math.min(maxHeight, w ? (width * h) / w : 360));
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    return { width, height, dpr };
  }

  function transform() {
    const { width, height, dpr } = layoutCanvas();
    const { w, h } = contentSize();
    const fit = Math.min(width / Math.max(w, 1), height / Math.max(h, 1));
    const scale = fit * st.zoom;
    const cx = st.cx === null ? w / 2 : st.cx;
    const cy = st.cy === null ? h / 2 : st.cy;
    return { scale, ox: width / 2 - cx * scale, oy: height / 2 - cy * scale, dpr, width, height };
  }

  function toPhoto(clientX, clientY) {
    const rect = canvas.getBoundingClientRect();
    const t = transform();
    let x = (clientX - rect.left - t.ox) / t.scale;
    const y = (clientY - rect.top - t.oy) / t.scale;
    if (model.get("mode") === "side by side" && x >= st.W + GAP) x -= st.W + GAP;
    const px = Math.floor(x), py = Math.floor(y);
    if (px < 0 || py < 0 || px >= st.W || py >= st.H) return null;
    return { x: px, y: py };
  }

  // --- layers (photo resolution, rebuilt only when the result or the hidden classes change) ----------------
  function hiddenSet() {
    return new Set((model.get("hidden") || []).map(Number));
  }

  function colourOf(id, hidden) {
    const cm = st.colormap;
    return hidden.has(id) ? 0 : ((255 << 24) | (cm[3 * id + 2] << 16) | (cm[3 * id + 1] << 8) | cm[3 * id]) >>> 0;
  }

  // Pixel indices grouped by class (a counting sort) and each class's bounding box, once per result,
  // so that toggling a class rewrites only that class's pixels inside its box.
  function indexClasses() {
    const { labels, counts, W } = st;
    const start = new Uint32Array(257);
    for (let i = 0; i < 256; i++) start[i + 1] = start[i] + counts[i];
    const next = start.slice(0, 256);
    const order = new Uint32Array(labels.length);
    const box = new Int32Array(256 * 4).fill(-1);
    for (let i = 0, n = labels.length; i < n; i++) {
      const c = labels[i];
      order[next[c]++] = i;
    }
    for (let c = 0; c < 256; c++) {
      if (!counts[c]) continue;
      let x0 = W, y0 = Infinity, x1 = -1, y1 = -1;
      for (let k = start[c]; k < start[c + 1]; k++) {
        const i = order[k], y = (i / W) | 0, x = i - y * W;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
      box.set([x0, y0, x1 - x0 + 1, y1 - y0 + 1], 4 * c);
    }
    st.classStart = start;
    st.classOrder = order;
    st.classBox = box;
  }

  function buildColour() {
    const hidden = hiddenSet();
    const lut = new Uint32Array(256);
    for (let i = 0; i < 256; i++) lut[i] = colourOf(i, hidden);
    if (!st.colour) st.colour = canvasOf(st.W, st.H);
    const ctx = st.colour.getContext("2d");
    const image = ctx.createImageData(st.W, st.H);
    const px = new Uint32Array(image.data.buffer);
    const labels = st.labels;
    for (let i = 0, n = labels.length; i < n; i++) px[i] = lut[labels[i]];
    ctx.putImageData(image, 0, 0);
    st.colourImage = image;
    st.colourHidden = hidden;
    st.edges = null;
  }

  // Apply a change of the hidden classes to the colour layer: only the toggled classes' pixels change.
  function updateColour() {
    const hidden = hiddenSet();
    if (!st.colourImage || !st.classOrder) return buildColour();
    const changed = [];
    for (let c = 0; c < 256; c++) if (st.counts[c] && hidden.has(c) !== st.colourHidden.has(c)) changed.push(c);
    const px = new Uint32Array(st.colourImage.data.buffer);
    const ctx = st.colour.getContext("2d");
    for (const c of changed) {
      const value = colourOf(c, hidden);
      for (let k = st.classStart[c]; k < st.classStart[c + 1]; k++) px[st.classOrder[k]] = value;
      const [x, y, w, h] = st.classBox.subarray(4 * c, 4 * c + 4);
      ctx.putImageData(st.colourImage, 0, 0, x, y, w, h);
    }
    st.colourHidden = hidden;
    st.edges = null;
  }

  function buildEdges() {
    const hidden = hiddenSet();
    const { W, H, labels } = st;
    st.edges = canvasOf(W, H);
    const ctx = st.edges.getContext("2d");
    const image = ctx.createImageData(W, H);
    const px = new Uint32Array(image.data.buffer);
    const white = 0xffffffff;
    for (let y = 0; y < H; y++) {
      const row = y * W;
      for (let x = 0; x < W; x++) {
        const i = row + x, v = labels[i];
        const r = x + 1 < W ? labels[i + 1] : v;
        const d = y + 1 < H ? labels[i + W] : v;
        if ((r !== v && !(hidden.has(v) && hidden.has(r))) || (d !== v && !(hidden.has(v) && hidden.has(d)))) {
          px[i] = white;
        }
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  function buildHeat(kind) {
    const s = st.scores;
    const canvas2 = canvasOf(s.w, s.h);
    const ctx = canvas2.getContext("2d");
    const image = ctx.createImageData(s.w, s.h);
    const pal = bytesOf(model.get("heat_palette"));
    const data = image.data;
    const n = s.w * s.h;
    for (let i = 0; i < n; i++) {
      const v = kind === "confidence" ? s.prob[3 * i] : s.ent[i];
      data[4 * i] = pal[3 * v];
      data[4 * i + 1] = pal[3 * v + 1];
      data[4 * i + 2] = pal[3 * v + 2];
      data[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    st.heat[kind] = canvas2;
  }

  // --- drawing ----------------------------------------------------------------------------------------
  // The picture in `mode` at the photo's own pixel size, on a context already transformed for the view;
  // `photoSmooth` and `mapSmooth` turn image smoothing on or off for the photo and the class-map layers.
  function paint(ctx, mode, a, photoSmooth, mapSmooth) {
    ctx.imageSmoothingEnabled = photoSmooth;
    ctx.drawImage(st.photo, 0, 0);
    ctx.imageSmoothingEnabled = mapSmooth;
    if (mode === "side by side") {
      ctx.imageSmoothingEnabled = photoSmooth;
      ctx.drawImage(st.photo, st.W + GAP, 0);
      ctx.imageSmoothingEnabled = mapSmooth;
      ctx.drawImage(st.colour, st.W + GAP, 0);
    } else if (mode === "mask") {
      ctx.drawImage(st.colour, 0, 0);
    } else if (HEAT.includes(mode) && st.scores) {
      if (!st.heat[mode]) buildHeat(mode);
      ctx.imageSmoothingEnabled = true;
      ctx.globalAlpha = a;
      ctx.drawImage(st.heat[mode], 0, 0, st.W, st.H);
    } else {
      ctx.globalAlpha = a;
      ctx.drawImage(st.colour, 0, 0);
      if (mode === "boundaries") {
        if (!st.edges) buildEdges();
        ctx.globalAlpha = 1;
        ctx.drawImage(st.edges, 0, 0);
      }
    }
    ctx.globalAlpha = 1;
  }

  function draw() {
    const t = transform();
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    canvas.dataset.scale = String(t.scale);
    canvas.dataset.offsetX = String(t.ox);
    canvas.dataset.offsetY = String(t.oy);
    if (!st.ready) return;
    const mode = model.get("mode");
    const a = Number(model.get("alpha"));
    ctx.setTransform(t.dpr * t.scale, 0, 0, t.dpr * t.scale, t.dpr * t.ox, t.dpr * t.oy);
    // the class map is drawn nearest-neighbour once zoomed past 1:1, the photo once past 2:1
    paint(ctx, mode, a, t.scale < 2, t.scale < 1);
    const hover = st.pinned || st.hover;
    if (hover) {
      const lw = 2 / t.scale;
      ctx.strokeStyle = st.pinned ? "#ffeb3b" : "#ffffff";
      ctx.lineWidth = lw;
      for (const dx of mode === "side by side" ? [0, st.W + GAP] : [0]) {
        ctx.strokeRect(hover.x + dx - 3 * lw, hover.y - 3 * lw, 1 + 6 * lw, 1 + 6 * lw);
      }
    }
    if (st.pending) {
      const { kind, t0 } = st.pending;
      const drawn = performance.now();
      st.pending = null;
      requestAnimationFrame(() => {
        window.dlwLatencies.push({ kind, draw_ms: drawn - t0, frame_ms: performance.now() - t0, view: id });
      });
    }
  }

  let frame = 0;
  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => ((frame = 0), draw()));
  }

  // --- side panel -------------------------------------------------------------------------------------
  function legendRow(cls, hidden) {
    const row = el("button", "dlw-legend-row");
    row.type = "button";
    row.dataset.classId = String(cls.id);
    row.title = `${hidden.has(cls.id) ? "show" : "hide"} ${cls.name}`;
    if (hidden.has(cls.id)) row.classList.add("dlw-hidden");
    const swatch = el("span", "dlw-swatch");
    swatch.style.background = hex(st.colormap, cls.id);
    row.append(swatch, el("span", "dlw-name", cls.name), el("span", "dlw-share", percent(cls.fraction)));
    row.addEventListener("click", (event) => {
      const now = hiddenSet();
      if (now.has(cls.id)) now.delete(cls.id);
      else now.add(cls.id);
      setTrait("hidden", [...now].sort((x, y) => x - y), "toggle", event);
    });
    return row;
  }

  function updateLegend() {
    legend.textContent = "";
    if (!st.ready) return;
    const total = st.labels.length;
    const classes = [];
    for (let i = 0; i < 256; i++) {
      if (st.counts[i]) classes.push({ id: i, name: st.names[i] || `class ${i}`, fraction: st.counts[i] / total });
    }
    classes.sort((p, q) => q.fraction - p.fraction || p.id - q.id);
    const hidden = hiddenSet();
    const title = el("div", "dlw-legend-title", "classes (click to hide or show)");
    legend.appendChild(title);
    const list = el("div", "dlw-legend-list");
    const small = classes.filter((c) => c.fraction < FOLD);
    for (const c of classes) if (c.fraction >= FOLD) list.appendChild(legendRow(c, hidden));
    legend.appendChild(list);
    if (small.length) {
      const more = el("details", "dlw-legend-more");
      more.appendChild(el("summary", "", `${small.length} more (under 0.1% each)`));
      for (const c of small) more.appendChild(legendRow(c, hidden));
      legend.appendChild(more);
    }
  }

  function updateColorbar() {
    const mode = model.get("mode");
    const heat = HEAT.includes(mode) && st.scores;
    legend.style.display = heat ? "none" : "";
    colorbar.style.display = heat ? "" : "none";
    if (!heat) return;
    const pal = bytesOf(model.get("heat_palette"));
    const stops = [];
    for (let i = 0; i <= 8; i++) {
      const v = Math.round((i * 255) / 8);
      stops.push(`rgb(${pal[3 * v]},${pal[3 * v + 1]},${pal[3 * v + 2]}) ${(i * 100) / 8}%`);
    }
    colorbar.textContent = "";
    const bits = Math.log2(st.scores.c);
    const title =
      mode === "confidence"
        ? "confidence: probability of the top class (%)"
        : `entropy over ${st.scores.c} classes (bits; ${bits.toFixed(2)} = all equally likely)`;
    const ticks = mode === "confidence" ? ["0%", "50%", "100%"] : ["0", (bits / 2).toFixed(2), bits.toFixed(2)];
    const bar = el("div", "dlw-colorbar-bar");
    bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
    const tickRow = el("div", "dlw-colorbar-ticks");
    for (const tick of ticks) tickRow.appendChild(el("span", "", tick));
    colorbar.append(el("div", "dlw-colorbar-title", title), bar, tickRow);
  }

  function updateReadout() {
    const at = st.pinned || st.hover;
    readout.textContent = "";
    if (!st.ready || !at) {
      readout.appendChild(el("span", "dlw-readout-hint", "move the pointer over the picture; click to pin"));
      return;
    }
    const cls = st.labels[at.y * st.W + at.x];
    const head = el("div", "dlw-readout-head");
    const swatch = el("span", "dlw-swatch");
    swatch.style.background = hex(st.colormap, cls);
    head.append(swatch, el("span", "dlw-readout-class", st.names[cls] || `class ${cls}`));
    head.appendChild(el("span", "dlw-readout-xy", `x ${at.x}, y ${at.y}`));
    readout.appendChild(head);
    const s = st.scores;
    if (s) {
      const sx = Math.min(s.w - 1, Math.floor((at.x * s.w) / st.W));
      const sy = Math.min(s.h - 1, Math.floor((at.y * s.h) / st.H));
      const i = sy * s.w + sx;
      const top = el("div", "dlw-readout-top");
      for (let k = 0; k < 3; k++) {
        const p = s.prob[3 * i + k];
        if (k > 0 && p === 0) break;
        const c = s.top[3 * i + k];
        const item = el("span", "dlw-readout-prob");
        const sw = el("span", "dlw-swatch");
        sw.style.background = hex(st.colormap, c);
        item.append(sw, document.createTextNode(`${st.names[c] || `class ${c}`} ${Math.round((p * 100) / 255)}%`));
        top.appendChild(item);
      }
      readout.appendChild(top);
    }
    if (st.pinned) readout.appendChild(el("div", "dlw-readout-hint", "pinned: Escape or a click unpins"));
  }

  function updateControls() {
    const mode = model.get("mode");
    for (const m of MODES) modeButtons[m].classList.toggle("dlw-active", m === mode);
    alpha.value = String(model.get("alpha"));
    // Kept in place (greyed) where it has no effect, so the buttons after it never move.
    alpha.disabled = NO_ALPHA.includes(mode);
    alphaLabel.classList.toggle("dlw-disabled", alpha.disabled);
    alpha.title = alpha.disabled ? `opacity has no effect in ${mode} mode` : "opacity of the colours over the photo";
    const message = model.get("note") || "";
    note.textContent = HEAT.includes(mode) && !st.scores ? message : "";
    saveMask.disabled = saveOverlay.disabled = !st.ready;
  }

  // --- synchronised views (compare) -----------------------------------------------------------------------
  function broadcast(withHover) {
    const group = model.get("sync_group");
    if (!group) return;
    const detail = { group, from: id, zoom: st.zoom, cx: st.cx, cy: st.cy };
    if (withHover) detail.hover = st.hover;
    window.dispatchEvent(new CustomEvent("dlw-sync", { detail }));
  }

  function onSync(event) {
    const d = event.detail;
    if (d.from === id || d.group !== model.get("sync_group") || !model.get("sync_group")) return;
    st.zoom = d.zoom;
    st.cx = d.cx;
    st.cy = d.cy;
    if ("hover" in d) {
      st.hover = d.hover && d.hover.x < st.W && d.hover.y < st.H ? d.hover : null;
      updateReadout();
    }
    schedule();
  }
  window.addEventListener("dlw-sync", onSync);

  // --- pointer and keys -------------------------------------------------------------------------------
  function zoomAt(factor, clientX, clientY) {
    const t = transform();
    const rect = canvas.getBoundingClientRect();
    const x = clientX === undefined ? t.width / 2 : clientX - rect.left;
    const y = clientY === undefined ? t.height / 2 : clientY - rect.top;
    const px = (x - t.ox) / t.scale, py = (y - t.oy) / t.scale;
    const zoom = Math.min(MAX_ZOOM, Math.max(1, st.zoom * factor));
    const scale = (t.scale / st.zoom) * zoom;
    st.zoom = zoom;
    // keep the photo point under the pointer where it is
    st.cx = px + (t.width / 2 - x) / scale;
    st.cy = py + (t.height / 2 - y) / scale;
    if (zoom === 1) st.cx = st.cy = null;
    st.pending = { kind: "zoom", t0: performance.now() };
    broadcast(false);
    schedule();
  }

  let drag = null;
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomAt(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, event.clientX, event.clientY);
  }, { passive: false });
  canvas.addEventListener("mousedown", (event) => {
    const t = transform();
    drag = { x: event.clientX, y: event.clientY, cx: st.cx, cy: st.cy, scale: t.scale, moved: false, t };
  });
  const onMouseUp = () => setTimeout(() => (drag = null), 0);
  window.addEventListener("mouseup", onMouseUp);
  canvas.addEventListener("mousemove", (event) => {
    if (drag && event.buttons & 1) {
      const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved && st.zoom > 1) {
        const { w, h } = contentSize();
        st.cx = (drag.cx === null ? w / 2 : drag.cx) - dx / drag.scale;
        st.cy = (drag.cy === null ? h / 2 : drag.cy) - dy / drag.scale;
        broadcast(false);
        schedule();
        return;
      }
    }
    const at = toPhoto(event.clientX, event.clientY);
    const same = at && st.hover && at.x === st.hover.x && at.y === st.hover.y;
    if (same) return;
    st.hover = at;
    broadcast(true);
    if (!st.pinned) {
      updateReadout();
      schedule();
    }
  });
  canvas.addEventListener("mouseleave", () => {
    st.hover = null;
    broadcast(true);
    if (!st.pinned) {
      updateReadout();
      schedule();
    }
  });
  canvas.addEventListener("click", (event) => {
    if (drag && drag.moved) return;
    const at = toPhoto(event.clientX, event.clientY);
    st.pinned = st.pinned || !at ? null : at;
    updateReadout();
    schedule();
  });
  canvas.addEventListener("dblclick", () => {
    st.zoom = 1;
    st.cx = st.cy = null;
    st.pinned = null;
    broadcast(false);
    updateReadout();
    schedule();
  });
  const onKey = (event) => {
    if (event.key === "Escape" && st.pinned) {
      st.pinned = null;
      updateReadout();
      schedule();
    }
  };
  document.addEventListener("keydown", onKey);
  zoomIn.addEventListener("click", () => zoomAt(ZOOM_STEP * ZOOM_STEP));
  zoomOut.addEventListener("click", () => zoomAt(1 / (ZOOM_STEP * ZOOM_STEP)));
  zoomReset.addEventListener("click", () => {
    st.zoom = 1;
    st.cx = st.cy = null;
    broadcast(false);
    schedule();
  });

  const stem = () => model.get("download_name") || "segmentation";
  saveMask.addEventListener("click", () => download(bytesOf(model.get("mask_png")), `${stem()}_mask.png`, "image/png"));
  saveOverlay.addEventListener("click", () => {
    // the current picture at the photo's size, without zoom or the hover marker
    const { w, h } = contentSize();
    const out = canvasOf(w, h);
    const mode = model.get("mode");
    paint(out.getContext("2d"), mode, Number(model.get("alpha")), true, true);
    out.toBlob((blob) => download(blob, `${stem()}_${mode.replace(/ /g, "_")}.png`, "image/png"), "image/png");
  });

  // --- data -------------------------------------------------------------------------------------------
  async function load() {
    const token = ++st.token;
    const photoBytes = bytesOf(model.get("photo"));
    const maskBytes = bytesOf(model.get("mask_png"));
    if (!photoBytes.length || !maskBytes.length) {
      st.ready = false;
      updateAll();
      return;
    }
    try {
      const [photo, modelMask] = await Promise.all([
        createImageBitmap(new Blob([photoBytes], { type: "image/jpeg" })),
        decodeIndexedPng(maskBytes),
      ]);
      const mask = scaleLabels(modelMask, photo.width, photo.height);
      const shape = model.get("score_shape") || [0, 0, 0];
      let scores = null;
      const scoreBytes = bytesOf(model.get("scores"));
      if (scoreBytes.length && shape[0]) {
        const raw = await inflate(scoreBytes);
        const n = shape[0] * shape[1];
        scores = {
          h: shape[0],
          w: shape[1],
          c: shape[2],
          top: raw.subarray(0, 3 * n),
          prob: raw.subarray(3 * n, 6 * n),
          ent: raw.subarray(6 * n, 7 * n),
        };
      }
      if (token !== st.token) return; // a newer result arrived meanwhile
      const resized = st.W !== mask.width || st.H !== mask.height;
      Object.assign(st, {
        photo,
        W: mask.width,
        H: mask.height,
        labels: mask.data,
        names: model.get("class_names") || [],
        colormap: bytesOf(model.get("colormap")),
        scores,
        heat: {},
        edges: null,
        colour: resized ? null : st.colour,
        ready: true,
      });
      if (resized) {
        st.zoom = 1;
        st.cx = st.cy = null;
      }
      st.pinned = null;
      const counts = new Uint32Array(256);
      for (let i = 0, n = st.labels.length; i < n; i++) counts[st.labels[i]]++;
      st.counts = counts;
      st.colourImage = null;
      indexClasses();
      buildColour();
      root.dataset.revision = String(model.get("revision"));
    } catch (error) {
      note.textContent = `could not show the result: ${error}`;
      return;
    }
    updateAll();
  }

  function updateAll() {
    updateControls();
    updateLegend();
    updateColorbar();
    updateReadout();
    draw();
  }

  const handlers = {
    "change:revision": load,
    "change:mode": () => {
      st.heat = st.heat || {};
      updateControls();
      updateColorbar();
      draw();
    },
    "change:alpha": () => {
      updateControls();
      draw();
    },
    "change:hidden": () => {
      if (st.ready) updateColour();
      updateLegend();
      draw();
    },
    "change:note": updateControls,
    "change:fit_height": () => schedule(),
  };
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  const resize = new ResizeObserver(() => schedule());
  resize.observe(stage);
  updateControls();
  load();

  return () => {
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
    window.removeEventListener("dlw-sync", onSync);
    window.removeEventListener("mouseup", onMouseUp);
    document.removeEventListener("keydown", onKey);
    resize.disconnect();
  };
}

export default { render };
