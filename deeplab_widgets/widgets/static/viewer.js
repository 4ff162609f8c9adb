// The deeplab-widgets viewer: composites a segmentation result on a canvas in the browser.
//
// The kernel sends once per result (widgets/viewer_payload.py; a new photo may come ahead of its result, to be
// decoded while the model runs): the photo (JPEG), the class map (palette PNG, pixel value = class id; at the
// model's resolution it is upsampled here with `restore`'s nearest-neighbour rule),
// the dataset's and the contrast palette's colours, class names and the scores (the model's coarse logits, or
// top-3 probabilities). Mode, opacity, palette, class toggles, zoom, pan and the hover readout never go back to
// the kernel. Each mode draws what `viz.render` draws (tests/test_render_agreement.py compares them). Views with
// the same `sync_group` share zoom, pan and hover. After drawing a new result the viewer dispatches a
// `dlw-painted` event (detail: revision and the performance.now() times received, decoded, drawn).

const MODES = ["overlay", "mask", "side by side", "boundaries", "confidence", "entropy"];
const HEAT = ["confidence", "entropy"];
const MASK_MODES = ["mask", "side by side"]; // classes drawn opaque, the palette's clear classes in their colour
const FOLD = 0.001; // classes under 0.1% of the pixels fold into "n more"
const SHOWN = 0.005; // the readout lists classes above 0.5% only
const GAP = 8; // white pixels between the halves of "side by side"
const ZOOM_STEP = 1.25;
const MAX_ZOOM = 64;

// --- bytes and PNG ----------------------------------------------------------------------------------------

function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

async function through(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

const inflate = (bytes) => through(bytes, new DecompressionStream("deflate"));
const deflate = (bytes) => through(bytes, new CompressionStream("deflate"));

// Decode a palette (or grey) PNG to its pixel values, the class ids, which a browser's own decoder loses.
async function decodeIndexedPng(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 8, colorType = 3, interlace = 0, palette = null;
  const chunks = [];
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (type === "IHDR") {
      [width, height] = [view.getUint32(pos + 8), view.getUint32(pos + 12)];
      [depth, colorType, interlace] = [data[8], data[9], data[12]];
    } else if (type === "PLTE") palette = data;
    else if (type === "IDAT") chunks.push(data);
    else if (type === "IEND") break;
    pos += 12 + length;
  }
  if ((colorType !== 3 && colorType !== 0) || interlace || depth > 8) {
    throw new Error("the class map must be an 8-bit palette PNG");
  }
  return { width, height, data: unfilter(await inflate(new Blob(chunks)), width, height, depth), palette };
}

// PNG scanlines (filter byte + packed samples) to one byte per pixel.
function unfilter(raw, width, height, depth) {
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
    if (depth === 8) out.set(line.subarray(0, width), y * width);
    else {
      const per = 8 / depth, mask = (1 << depth) - 1;
      for (let x = 0; x < width; x++) out[y * width + x] = (line[(x / per) | 0] >> (8 - depth * ((x % per) + 1))) & mask;
    }
    [prev, line] = [line, prev];
  }
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  let crc = 0xffffffff;
  for (let i = 4; i < 8 + data.length; i++) crc = CRC_TABLE[(crc ^ out[i]) & 255] ^ (crc >>> 8);
  view.setUint32(8 + data.length, (crc ^ 0xffffffff) >>> 0);
  return out;
}

// An 8-bit palette PNG of one byte per pixel (the class map download at the photo's size).
async function encodeIndexedPng(width, height, data, palette) {
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header.set([8, 3, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk("IHDR", header),
    pngChunk("PLTE", palette),
    pngChunk("IDAT", await deflate(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ];
  return new Blob(parts, { type: "image/png" });
}

// A class map sent as one byte per pixel (`labels`, `labels_shape`), copied out of the message's buffer.
function readLabels(bytes, [height, width]) {
  return { width, height, data: bytes.slice(), palette: null };
}

// --- geometry -----------------------------------------------------------------------------------------------

// The source index of each of `nOut` pixels in a nearest-neighbour resize from `nIn`: Pillow's rule, which
// `core.preprocess.restore` uses (the kernel sends a model-resolution map only when it checked they agree).
function nearestTable(nIn, nOut) {
  const table = new Int32Array(nOut);
  const step = nIn / nOut;
  let at = step * 0.5;
  for (let x = 0; x < nOut; x++) {
    table[x] = Math.min(nIn - 1, Math.trunc(at));
    at += step;
  }
  return table;
}

// A class map at another resolution than the photo (the model's, a video frame's) brought to the photo's size.
function upsampleLabels(mask, width, height) {
  if (mask.width === width && mask.height === height) return mask.data;
  const out = new Uint8Array(width * height);
  const xs = nearestTable(mask.width, width), ys = nearestTable(mask.height, height);
  for (let y = 0; y < height; y++) {
    const row = ys[y] * mask.width, base = y * width;
    for (let x = 0; x < width; x++) out[base + x] = mask.data[row + xs[x]];
  }
  return out;
}

// TFLite's RESIZE_BILINEAR along one axis, in float32 as its kernel computes: for each of the first `count`
// of `nOut` output pixels, the lower and upper input index and the upper one's weight (`core.scores.Upsampling`).
function bilinearAxis(nIn, nOut, count, alignCorners, halfPixel) {
  const f = Math.fround;
  const scale = f(alignCorners && nOut > 1 ? (nIn - 1) / (nOut - 1) : nIn / nOut);
  const lo = new Int32Array(count), hi = new Int32Array(count), w = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const src = halfPixel ? f(f(f(i + 0.5) * scale) - 0.5) : f(i * scale);
    lo[i] = Math.max(Math.floor(src), 0);
    hi[i] = Math.min(Math.ceil(src), nIn - 1);
    w[i] = f(src - lo[i]);
  }
  return { lo, hi, w };
}

// --- scores ---------------------------------------------------------------------------------------------------

// Top-3 classes and the entropy per pixel at the model's resolution (a result segmented with scores=True).
class TopScores {
  constructor(raw, [h, w, c], width, height) {
    const n = h * w;
    Object.assign(this, { h, w, c, top: raw.subarray(0, 3 * n), prob: raw.subarray(3 * n, 6 * n) });
    this.ent = raw.subarray(6 * n, 7 * n);
    this.xs = nearestTable(w, width);
    this.ys = nearestTable(h, height);
  }

  at(x, y) {
    const i = this.ys[y] * this.w + this.xs[x];
    return [0, 1, 2].map((k) => [this.top[3 * i + k], this.prob[3 * i + k] / 255]);
  }

  heat(kind) {
    const n = this.h * this.w, values = new Uint8Array(n);
    for (let i = 0; i < n; i++) values[i] = kind === "confidence" ? this.prob[3 * i] : this.ent[i];
    return { width: this.w, height: this.h, values };
  }
}

// The model's coarse logits (a result segmented with scores="coarse"), upsampled here as its graph does: the
// readout's probabilities at the pixel under the pointer, the heat maps at the model's resolution.
class CoarseScores {
  constructor(bytes, info, width, height) {
    const [h, w, c] = info.shape;
    const [outH, outW] = info.output, [ch, cw] = info.content;
    const copy = bytes.slice(); // aligned, and independent of the message's buffer
    const Type = { float32: Float32Array, uint8: Uint8Array, int8: Int8Array }[info.dtype];
    Object.assign(this, { h, w, c, ch, cw, logits: new Type(copy.buffer), scale: info.scale, zero: info.zero });
    this.min = info.dtype === "int8" ? -128 : 0;
    this.max = info.dtype === "int8" ? 127 : 255;
    this.rows = bilinearAxis(h, outH, ch, info.align_corners, info.half_pixel_centers);
    this.cols = bilinearAxis(w, outW, cw, info.align_corners, info.half_pixel_centers);
    this.xs = nearestTable(cw, width);
    this.ys = nearestTable(ch, height);
    this.values = new Float64Array(c);
  }

  // Class probabilities at model-resolution pixel (v, u) into this.values.
  probabilities(v, u) {
    const f = Math.fround, { c, w, logits, rows, cols, values } = this;
    const fy = rows.w[v], fx = cols.w[u], gy = f(1 - fy), gx = f(1 - fx);
    const a = (rows.lo[v] * w + cols.lo[u]) * c, b = (rows.lo[v] * w + cols.hi[u]) * c;
    const d = (rows.hi[v] * w + cols.lo[u]) * c, e = (rows.hi[v] * w + cols.hi[u]) * c;
    let top = -Infinity;
    for (let k = 0; k < c; k++) {
      const upper = f(f(logits[a + k] * gx) + f(logits[b + k] * fx));
      const lower = f(f(logits[d + k] * gx) + f(logits[e + k] * fx));
      let value = f(f(upper * gy) + f(lower * fy));
      if (this.scale) value = (Math.min(this.max, Math.max(this.min, Math.floor(value + 0.5))) - this.zero) * this.scale;
      values[k] = value;
      if (value > top) top = value;
    }
    let sum = 0;
    for (let k = 0; k < c; k++) sum += values[k] = Math.exp(values[k] - top);
    for (let k = 0; k < c; k++) values[k] /= sum;
    return values;
  }

  at(x, y) {
    const p = this.probabilities(this.ys[y], this.xs[x]);
    const order = Array.from(p.keys()).sort((i, j) => p[j] - p[i]).slice(0, 3);
    return order.map((k) => [k, p[k]]);
  }

  heat(kind) {
    const { ch, cw, c } = this, values = new Uint8Array(ch * cw), norm = Math.log(c);
    for (let v = 0; v < ch; v++) {
      for (let u = 0; u < cw; u++) {
        const p = this.probabilities(v, u);
        let value = 0;
        if (kind === "confidence") for (let k = 0; k < c; k++) value = Math.max(value, p[k]);
        else {
          for (let k = 0; k < c; k++) value -= p[k] * Math.log(Math.min(1, Math.max(p[k], 1e-12)));
          value /= norm;
        }
        values[v * cw + u] = Math.min(255, Math.floor(value * 255 + 0.5));
      }
    }
    return { width: cw, height: ch, values };
  }
}

async function readScores(model, width, height) {
  const coarse = bytesOf(model.get("coarse"));
  if (coarse.length) return new CoarseScores(coarse, model.get("coarse_info"), width, height);
  const top = bytesOf(model.get("scores"));
  const shape = model.get("score_shape") || [0, 0, 0];
  return top.length && shape[0] ? new TopScores(await inflate(top), shape, width, height) : null;
}

// --- layers -----------------------------------------------------------------------------------------------

function canvasOf(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function countClasses(labels) {
  const counts = new Uint32Array(256);
  for (let i = 0, n = labels.length; i < n; i++) counts[labels[i]]++;
  return counts;
}

// Pixel indices grouped by class (a counting sort) and each class's bounding box, so that toggling a class
// rewrites only that class's pixels inside its box.
function indexClasses(labels, counts, width) {
  const start = new Uint32Array(257);
  for (let i = 0; i < 256; i++) start[i + 1] = start[i] + counts[i];
  const next = start.slice(0, 256);
  const order = new Uint32Array(labels.length);
  for (let i = 0, n = labels.length; i < n; i++) order[next[labels[i]]++] = i;
  const box = new Int32Array(256 * 4).fill(-1);
  for (let c = 0; c < 256; c++) {
    if (!counts[c]) continue;
    let x0 = width, y0 = Infinity, x1 = -1, y1 = -1;
    for (let k = start[c]; k < start[c + 1]; k++) {
      const i = order[k], y = (i / width) | 0, x = i - y * width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    box.set([x0, y0, x1 - x0 + 1, y1 - y0 + 1], 4 * c);
  }
  return { start, order, box };
}

// A layer of class colours at the photo's size: `colourOf(id)` gives a class's RGBA (0: transparent).
class ClassLayer {
  constructor(labels, width, height, colourOf) {
    this.canvas = canvasOf(width, height);
    this.context = this.canvas.getContext("2d");
    this.image = this.context.createImageData(width, height);
    this.colours = new Uint32Array(256);
    for (let i = 0; i < 256; i++) this.colours[i] = colourOf(i);
    const px = new Uint32Array(this.image.data.buffer), colours = this.colours;
    for (let i = 0, n = labels.length; i < n; i++) px[i] = colours[labels[i]];
    this.context.putImageData(this.image, 0, 0);
  }

  // Recolour the classes whose colour changed, only their pixels (`index` from indexClasses).
  update(colourOf, index, counts) {
    const px = new Uint32Array(this.image.data.buffer);
    for (let c = 0; c < 256; c++) {
      const colour = colourOf(c);
      if (colour === this.colours[c] || !counts[c]) continue;
      this.colours[c] = colour;
      for (let k = index.start[c]; k < index.start[c + 1]; k++) px[index.order[k]] = colour;
      const [x, y, w, h] = index.box.subarray(4 * c, 4 * c + 4);
      this.context.putImageData(this.image, 0, 0, x, y, w, h);
    }
  }
}

// White one-pixel edges: a pixel whose class differs from its left or upper neighbour's, except between two
// hidden classes (`viz.masks.boundaries`).
function edgeLayer(labels, width, height, hidden) {
  const canvas = canvasOf(width, height);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  const px = new Uint32Array(image.data.buffer);
  const differ = (a, b) => a !== b && !(hidden.has(a) && hidden.has(b));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x, v = labels[i];
      if ((x > 0 && differ(v, labels[i - 1])) || (y > 0 && differ(v, labels[i - width]))) px[i] = 0xffffffff;
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// Heat values (0-255) in the heat palette's colours, at their own (the model's) resolution.
function heatLayer({ width, height, values }, palette) {
  const canvas = canvasOf(width, height);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  const data = image.data;
  for (let i = 0, n = width * height; i < n; i++) {
    const v = 3 * values[i];
    data[4 * i] = palette[v];
    data[4 * i + 1] = palette[v + 1];
    data[4 * i + 2] = palette[v + 2];
    data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// --- drawing ----------------------------------------------------------------------------------------------

// The picture in `mode` at the photo's pixel size on a context already transformed for the view, as
// `viz.render` draws it; `photoSmooth` and `mapSmooth` turn smoothing on or off for the photo and the class map.
function paint(ctx, layers, mode, alpha, photoSmooth, mapSmooth) {
  const { photo, width } = layers;
  ctx.imageSmoothingEnabled = photoSmooth;
  ctx.drawImage(photo, 0, 0);
  if (mode === "side by side") {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(width, 0, GAP, layers.height);
    ctx.drawImage(photo, width + GAP, 0);
    ctx.imageSmoothingEnabled = mapSmooth;
    ctx.drawImage(layers.mask(), width + GAP, 0);
  } else if (mode === "mask") {
    ctx.imageSmoothingEnabled = mapSmooth;
    ctx.drawImage(layers.mask(), 0, 0);
  } else if (HEAT.includes(mode) && layers.scores) {
    ctx.imageSmoothingEnabled = true;
    ctx.globalAlpha = alpha;
    ctx.drawImage(layers.heat(mode), 0, 0, width, layers.height);
  } else {
    ctx.imageSmoothingEnabled = mapSmooth;
    ctx.globalAlpha = alpha;
    ctx.drawImage(layers.overlay(), 0, 0);
    ctx.globalAlpha = 1;
    if (mode === "boundaries") ctx.drawImage(layers.edges(), 0, 0);
  }
  ctx.globalAlpha = 1;
}

// Everything drawn from one result, built when first needed and kept until the result, the palette or the
// hidden classes change.
class Layers {
  constructor({ photo, labels, width, height, scores, palettes, heatPalette }) {
    Object.assign(this, { photo, labels, width, height, scores, palettes, heatPalette });
    this.counts = countClasses(labels);
    this.built = {};
    this.heats = {};
  }

  // Follow a change of palette (all layers rebuilt) or of the hidden classes (only their pixels recoloured).
  configure(palette, hidden) {
    this.hidden = hidden;
    delete this.built.edges;
    if (palette !== this.palette) {
      this.palette = palette;
      this.built = {};
      return;
    }
    for (const [key, masked] of [["overlay", false], ["mask", true]]) {
      if (!this.built[key]) continue;
      this.index ||= indexClasses(this.labels, this.counts, this.width);
      this.built[key].update(this.colourOf(masked), this.index, this.counts);
    }
  }

  colours() {
    const { colours, clear } = this.palettes[this.palette];
    return { colours, clear: this.palette === "contrast" ? clear : new Set() };
  }

  colourOf(masked) {
    const { colours, clear } = this.colours();
    return (id) =>
      this.hidden.has(id) || (!masked && clear.has(id))
        ? 0
        : ((255 << 24) | (colours[3 * id + 2] << 16) | (colours[3 * id + 1] << 8) | colours[3 * id]) >>> 0;
  }

  overlay() {
    return (this.built.overlay ||= new ClassLayer(this.labels, this.width, this.height, this.colourOf(false))).canvas;
  }

  // The mask modes colour the palette's clear classes too: the overlay layer when none of them is present.
  mask() {
    const { clear } = this.colours();
    if (![...clear].some((id) => this.counts[id] && !this.hidden.has(id))) return this.overlay();
    return (this.built.mask ||= new ClassLayer(this.labels, this.width, this.height, this.colourOf(true))).canvas;
  }

  edges() {
    return (this.built.edges ||= edgeLayer(this.labels, this.width, this.height, this.hidden));
  }

  heat(kind) {
    return (this.heats[kind] ||= heatLayer(this.scores.heat(kind), this.heatPalette));
  }
}

// --- the page around the canvas -------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(className, text, title) {
  const node = el("button", className, text);
  node.type = "button";
  node.title = title;
  return node;
}

function hex(colours, id) {
  return "#" + [0, 1, 2].map((k) => colours[3 * id + k].toString(16).padStart(2, "0")).join("");
}

function percent(fraction) {
  return fraction >= FOLD ? `${(fraction * 100).toFixed(1)}%` : "<0.1%";
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function buildToolbar(onMode, onAlpha) {
  const modes = el("div", "dlw-modes");
  const modeButtons = {};
  for (const mode of MODES) {
    modeButtons[mode] = button("dlw-mode-button", mode, `show the result as ${mode}`);
    modeButtons[mode].dataset.mode = mode;
    modeButtons[mode].addEventListener("click", (event) => onMode(mode, event));
    modes.appendChild(modeButtons[mode]);
  }
  const alphaLabel = el("label", "dlw-alpha");
  const alpha = el("input");
  Object.assign(alpha, { type: "range", min: "0", max: "1", step: "0.05", title: "opacity of the colours over the photo" });
  alpha.addEventListener("input", (event) => onAlpha(Number(alpha.value), event));
  alphaLabel.append(el("span", "", "opacity"), alpha);
  const zoomIn = button("dlw-zoom-in", "+", "zoom in (or the mouse wheel)");
  const zoomOut = button("dlw-zoom-out", "−", "zoom out");
  const zoomReset = button("dlw-zoom-reset", "fit", "show the whole photo (or double-click the picture)");
  const saveMask = button("dlw-download-mask", "class map PNG", "download the class map: a palette PNG, pixel value = class id");
  const saveOverlay = button(
    "dlw-download-overlay",
    "picture PNG",
    "download the picture as shown (mode, opacity, hidden classes) at the photo's size",
  );
  const zoomBox = el("div", "dlw-zoom");
  zoomBox.append(zoomOut, zoomIn, zoomReset);
  const saveBox = el("div", "dlw-downloads");
  saveBox.append(el("span", "dlw-downloads-label", "download:"), saveMask, saveOverlay);
  const toolbar = el("div", "dlw-toolbar");
  toolbar.append(modes, alphaLabel, zoomBox, saveBox);
  return { toolbar, modeButtons, alphaLabel, alpha, zoomIn, zoomOut, zoomReset, saveMask, saveOverlay };
}

// --- the viewer ---------------------------------------------------------------------------------------------

class Viewer {
  constructor(model, root) {
    this.model = model;
    this.root = root;
    // Unique across module instances (each widget may load its own copy of this module).
    this.id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    this.layers = null;
    this.decoded = null; // the last photo value and its decoding (see photoBitmap)
    this.zoom = 1;
    this.cx = this.cy = null; // photo point at the canvas centre
    this.pinned = this.hover = this.drag = null;
    this.token = 0;
    this.frame = 0;
    this.buildPage();
    this.listen();
    this.updateControls();
    this.load();
  }

  buildPage() {
    const root = this.root;
    root.classList.add("dlw-viewer");
    root.tabIndex = 0;
    this.tools = buildToolbar(
      (mode, event) => this.setTrait("mode", mode, event),
      (alpha, event) => this.setTrait("alpha", alpha, event),
    );
    this.stage = el("div", "dlw-stage");
    this.canvas = el("canvas", "dlw-canvas");
    this.stage.appendChild(this.canvas);
    this.readout = el("div", "dlw-readout", "move the pointer over the picture");
    this.note = el("div", "dlw-note");
    this.legend = el("div", "dlw-legend");
    this.colorbar = el("div", "dlw-colorbar");
    const side = el("div", "dlw-side");
    side.append(this.readout, this.legend, this.colorbar);
    const body = el("div", "dlw-body");
    body.append(this.stage, side);
    root.append(this.tools.toolbar, body, this.note);
  }

  setTrait(name, value) {
    this.model.set(name, value);
    this.model.save_changes();
  }

  hidden() {
    return new Set((this.model.get("hidden") || []).map(Number));
  }

  // --- geometry ---
  contentSize() {
    const { width = 0, height = 0 } = this.layers || {};
    return { w: this.model.get("mode") === "side by side" ? 2 * width + GAP : width, h: height };
  }

  layoutCanvas() {
    const { canvas, stage, root } = this;
    const width = Math.max(1, stage.clientWidth || root.clientWidth || 640);
    const { w, h } = this.contentSize();
    const height = Math.max(1, Math.min(Math.max(200, window.innerHeight * (Number(this.model.get("fit_height")) || 0.75)), w ? (width * h) / w : 360));
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    return { width, height, dpr };
  }

  transform() {
    const { width, height, dpr } = this.layoutCanvas();
    const { w, h } = this.contentSize();
    const scale = Math.min(width / Math.max(w, 1), height / Math.max(h, 1)) * this.zoom;
    const cx = this.cx === null ? w / 2 : this.cx, cy = this.cy === null ? h / 2 : this.cy;
    return { scale, ox: width / 2 - cx * scale, oy: height / 2 - cy * scale, dpr, width, height };
  }

  toPhoto(clientX, clientY) {
    if (!this.layers) return null;
    const rect = this.canvas.getBoundingClientRect();
    const t = this.transform();
    const { width, height } = this.layers;
    let x = (clientX - rect.left - t.ox) / t.scale;
    const y = (clientY - rect.top - t.oy) / t.scale;
    if (this.model.get("mode") === "side by side" && x >= width + GAP) x -= width + GAP;
    const px = Math.floor(x), py = Math.floor(y);
    return px < 0 || py < 0 || px >= width || py >= height ? null : { x: px, y: py };
  }

  // --- drawing ---
  draw() {
    const t = this.transform();
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    Object.assign(this.canvas.dataset, { scale: String(t.scale), offsetX: String(t.ox), offsetY: String(t.oy) });
    if (!this.layers) return;
    const mode = this.model.get("mode");
    ctx.setTransform(t.dpr * t.scale, 0, 0, t.dpr * t.scale, t.dpr * t.ox, t.dpr * t.oy);
    // the class map is drawn nearest-neighbour once zoomed past 1:1, the photo once past 2:1
    paint(ctx, this.layers, mode, Number(this.model.get("alpha")), t.scale < 2, t.scale < 1);
    const at = this.pinned || this.hover;
    if (!at) return;
    const lw = 2 / t.scale;
    ctx.strokeStyle = this.pinned ? "#ffeb3b" : "#ffffff";
    ctx.lineWidth = lw;
    for (const dx of mode === "side by side" ? [0, this.layers.width + GAP] : [0]) {
      ctx.strokeRect(at.x + dx - 3 * lw, at.y - 3 * lw, 1 + 6 * lw, 1 + 6 * lw);
    }
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.draw()));
  }

  // --- side panel ---
  legendRow(cls, hidden, colours, clear) {
    const row = button("dlw-legend-row", undefined, `${hidden.has(cls.id) ? "show" : "hide"} ${cls.name}`);
    row.dataset.classId = String(cls.id);
    if (hidden.has(cls.id)) row.classList.add("dlw-hidden");
    const swatch = el("span", "dlw-swatch");
    swatch.style.background = hex(colours, cls.id);
    if (clear.has(cls.id)) {
      swatch.classList.add("dlw-clear");
      swatch.title = "not coloured over the photo";
    }
    row.append(swatch, el("span", "dlw-name", cls.name), el("span", "dlw-share", percent(cls.fraction)));
    row.addEventListener("click", () => {
      const now = this.hidden();
      if (now.has(cls.id)) now.delete(cls.id);
      else now.add(cls.id);
      this.setTrait("hidden", [...now].sort((x, y) => x - y));
    });
    return row;
  }

  updateLegend() {
    const legend = this.legend;
    legend.textContent = "";
    if (!this.layers) return;
    const { counts, labels, names } = this.layers;
    const classes = [];
    for (let i = 0; i < 256; i++) {
      if (counts[i]) classes.push({ id: i, name: names[i] || `class ${i}`, fraction: counts[i] / labels.length });
    }
    classes.sort((p, q) => q.fraction - p.fraction || p.id - q.id);
    const hidden = this.hidden();
    const { colours, clear } = this.layers.colours();
    const shownClear = MASK_MODES.includes(this.model.get("mode")) ? new Set() : clear;
    legend.appendChild(el("div", "dlw-legend-title", "classes (click to hide or show)"));
    const list = el("div", "dlw-legend-list");
    for (const c of classes) if (c.fraction >= FOLD) list.appendChild(this.legendRow(c, hidden, colours, shownClear));
    legend.appendChild(list);
    const small = classes.filter((c) => c.fraction < FOLD);
    if (small.length) {
      const more = el("details", "dlw-legend-more");
      more.appendChild(el("summary", "", `${small.length} more (under 0.1% each)`));
      for (const c of small) more.appendChild(this.legendRow(c, hidden, colours, shownClear));
      legend.appendChild(more);
    }
  }

  updateColorbar() {
    const mode = this.model.get("mode");
    const scores = this.layers && this.layers.scores;
    const heat = HEAT.includes(mode) && scores;
    this.legend.style.display = heat ? "none" : "";
    this.colorbar.style.display = heat ? "" : "none";
    if (!heat) return;
    const pal = this.layers.heatPalette;
    const stops = [];
    for (let i = 0; i <= 8; i++) {
      const v = Math.round((i * 255) / 8);
      stops.push(`rgb(${pal[3 * v]},${pal[3 * v + 1]},${pal[3 * v + 2]}) ${(i * 100) / 8}%`);
    }
    const bits = Math.log2(scores.c);
    const title =
      mode === "confidence"
        ? "confidence: probability of the top class (%)"
        : `entropy over ${scores.c} classes (bits; ${bits.toFixed(2)} = all equally likely)`;
    const ticks = mode === "confidence" ? ["0%", "50%", "100%"] : ["0", (bits / 2).toFixed(2), bits.toFixed(2)];
    const bar = el("div", "dlw-colorbar-bar");
    bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
    const tickRow = el("div", "dlw-colorbar-ticks");
    for (const tick of ticks) tickRow.appendChild(el("span", "", tick));
    this.colorbar.textContent = "";
    this.colorbar.append(el("div", "dlw-colorbar-title", title), bar, tickRow);
  }

  updateReadout() {
    const at = this.pinned || this.hover, readout = this.readout, layers = this.layers;
    readout.textContent = "";
    if (!layers || !at) {
      readout.appendChild(el("span", "dlw-readout-hint", "move the pointer over the picture; click to pin"));
      return;
    }
    const { colours } = layers.colours();
    const swatch = (id) => {
      const node = el("span", "dlw-swatch");
      node.style.background = hex(colours, id);
      return node;
    };
    const name = (id) => layers.names[id] || `class ${id}`;
    const cls = layers.labels[at.y * layers.width + at.x];
    const head = el("div", "dlw-readout-head");
    head.append(swatch(cls), el("span", "dlw-readout-class", name(cls)), el("span", "dlw-readout-xy", `x ${at.x}, y ${at.y}`));
    readout.appendChild(head);
    if (layers.scores) {
      const top = el("div", "dlw-readout-top");
      for (const [id, p] of layers.scores.at(at.x, at.y)) {
        if (p <= SHOWN) continue;
        const item = el("span", "dlw-readout-prob");
        item.append(swatch(id), document.createTextNode(`${name(id)} ${Math.round(p * 100)}%`));
        top.appendChild(item);
      }
      readout.appendChild(top);
    }
    if (this.pinned) readout.appendChild(el("div", "dlw-readout-hint", "pinned: Escape or a click unpins"));
  }

  updateControls() {
    const mode = this.model.get("mode"), tools = this.tools;
    for (const m of MODES) tools.modeButtons[m].classList.toggle("dlw-active", m === mode);
    tools.alpha.value = String(this.model.get("alpha"));
    // Kept in place (greyed) where it has no effect, so the buttons after it never move.
    tools.alpha.disabled = MASK_MODES.includes(mode);
    tools.alphaLabel.classList.toggle("dlw-disabled", tools.alpha.disabled);
    tools.alpha.title = tools.alpha.disabled ? `opacity has no effect in ${mode} mode` : "opacity of the colours over the photo";
    const scores = this.layers && this.layers.scores;
    this.note.textContent = HEAT.includes(mode) && !scores ? this.model.get("note") || "" : "";
    tools.saveMask.disabled = tools.saveOverlay.disabled = !this.layers;
  }

  updateAll() {
    this.updateControls();
    this.updateLegend();
    this.updateColorbar();
    this.updateReadout();
    this.draw();
  }

  // --- a new photo, a new result ---

  // The decoded photo of a `photo` value, decoded once: from the moment the photo arrives, which can be ahead of its
  // result (the Workbench sends a clicked photo before it segments it, so it decodes while the model runs). The
  // picture changes only when the result comes (`load`).
  photoBitmap(value) {
    if (!this.decoded || this.decoded.value !== value) {
      const bytes = bytesOf(value);
      const bitmap = bytes.length ? createImageBitmap(new Blob([bytes], { type: "image/jpeg" })) : null;
      if (bitmap) bitmap.catch(() => {}); // a photo that does not decode is reported by `load`, which awaits it
      this.decoded = { value, bitmap };
    }
    return this.decoded.bitmap;
  }

  async load() {
    const received = performance.now();
    const token = ++this.token;
    const model = this.model;
    const photoValue = model.get("photo"); // the same object while the photo is unchanged: decoded once
    const photoBytes = bytesOf(photoValue);
    const maskBytes = bytesOf(model.get("mask_png"));
    const raw = bytesOf(model.get("labels"));
    if (!photoBytes.length || !(maskBytes.length || raw.length)) {
      this.layers = null;
      this.updateAll();
      return;
    }
    let layers;
    try {
      const [photo, mask] = await Promise.all([
        this.photoBitmap(photoValue),
        raw.length ? readLabels(raw, model.get("labels_shape")) : decodeIndexedPng(maskBytes),
      ]);
      const { width, height } = photo;
      const scores = await readScores(model, width, height);
      if (token !== this.token) return; // a newer result arrived meanwhile
      const contrast = bytesOf(model.get("contrast_colormap"));
      const dataset = bytesOf(model.get("colormap"));
      layers = new Layers({
        photo,
        labels: upsampleLabels(mask, width, height),
        width,
        height,
        scores,
        palettes: {
          contrast: { colours: contrast.length ? contrast : dataset, clear: new Set(model.get("clear") || []) },
          dataset: { colours: dataset, clear: new Set() },
        },
        heatPalette: bytesOf(model.get("heat_palette")),
      });
      Object.assign(layers, { received: mask, names: model.get("class_names") || [] });
      layers.configure(model.get("palette") || "contrast", this.hidden());
    } catch (error) {
      this.note.textContent = `could not show the result: ${error}`;
      return;
    }
    const previous = this.layers;
    if (!previous || previous.width !== layers.width || previous.height !== layers.height) {
      this.zoom = 1;
      this.cx = this.cy = null;
    }
    this.layers = layers;
    this.pinned = null;
    const decoded = performance.now();
    this.updateAll();
    const revision = Number(model.get("revision"));
    this.root.dataset.revision = String(revision);
    const detail = { revision, received, decoded, drawn: performance.now() };
    this.root.dispatchEvent(new CustomEvent("dlw-painted", { bubbles: true, detail }));
  }

  // --- downloads ---
  async saveMask() {
    const { received, width, height, labels } = this.layers; // the class map as received, and at the photo's size
    const stem = this.model.get("download_name") || "segmentation";
    const sent = bytesOf(this.model.get("mask_png"));
    const png = sent.length && received.width === width && received.height === height
      ? new Blob([sent], { type: "image/png" })
      : await encodeIndexedPng(width, height, labels, received.palette || bytesOf(this.model.get("colormap")));
    download(png, `${stem}_mask.png`);
  }

  saveOverlay() {
    // the current picture at the photo's size, without zoom or the hover marker
    const { w, h } = this.contentSize();
    const out = canvasOf(w, h);
    const mode = this.model.get("mode");
    const stem = this.model.get("download_name") || "segmentation";
    paint(out.getContext("2d"), this.layers, mode, Number(this.model.get("alpha")), true, true);
    out.toBlob((blob) => download(blob, `${stem}_${mode.replace(/ /g, "_")}.png`), "image/png");
  }

  // --- synchronised views (compare) ---
  broadcast(withHover) {
    const group = this.model.get("sync_group");
    if (!group) return;
    const detail = { group, from: this.id, zoom: this.zoom, cx: this.cx, cy: this.cy };
    if (withHover) detail.hover = this.hover;
    window.dispatchEvent(new CustomEvent("dlw-sync", { detail }));
  }

  onSync(event) {
    const d = event.detail, group = this.model.get("sync_group");
    if (d.from === this.id || !group || d.group !== group) return;
    Object.assign(this, { zoom: d.zoom, cx: d.cx, cy: d.cy });
    if ("hover" in d) {
      const inside = d.hover && this.layers && d.hover.x < this.layers.width && d.hover.y < this.layers.height;
      this.hover = inside ? d.hover : null;
      this.updateReadout();
    }
    this.schedule();
  }

  // --- pointer and keys ---
  zoomAt(factor, clientX, clientY) {
    const t = this.transform();
    const rect = this.canvas.getBoundingClientRect();
    const x = clientX === undefined ? t.width / 2 : clientX - rect.left;
    const y = clientY === undefined ? t.height / 2 : clientY - rect.top;
    const px = (x - t.ox) / t.scale, py = (y - t.oy) / t.scale;
    const zoom = Math.min(MAX_ZOOM, Math.max(1, this.zoom * factor));
    const scale = (t.scale / this.zoom) * zoom;
    this.zoom = zoom;
    // keep the photo point under the pointer where it is
    this.cx = px + (t.width / 2 - x) / scale;
    this.cy = py + (t.height / 2 - y) / scale;
    if (zoom === 1) this.cx = this.cy = null;
    this.broadcast(false);
    this.schedule();
  }

  resetView(unpin) {
    this.zoom = 1;
    this.cx = this.cy = null;
    if (unpin) {
      this.pinned = null;
      this.updateReadout();
    }
    this.broadcast(false);
    this.schedule();
  }

  onPointerMove(event) {
    const drag = this.drag;
    if (drag && event.buttons & 1) {
      const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved && this.zoom > 1) {
        const { w, h } = this.contentSize();
        this.cx = (drag.cx === null ? w / 2 : drag.cx) - dx / drag.scale;
        this.cy = (drag.cy === null ? h / 2 : drag.cy) - dy / drag.scale;
        this.broadcast(false);
        this.schedule();
        return;
      }
    }
    const at = this.toPhoto(event.clientX, event.clientY);
    if (at && this.hover && at.x === this.hover.x && at.y === this.hover.y) return;
    this.setHover(at);
  }

  setHover(at) {
    this.hover = at;
    this.broadcast(true);
    if (!this.pinned) {
      this.updateReadout();
      this.schedule();
    }
  }

  listen() {
    const { canvas, tools, model } = this;
    const on = (target, type, handler, options) => {
      target.addEventListener(type, handler, options);
      this.disposers.push(() => target.removeEventListener(type, handler, options));
    };
    this.disposers = [];
    on(window, "dlw-sync", (event) => this.onSync(event));
    on(window, "mouseup", () => setTimeout(() => (this.drag = null), 0));
    on(document, "keydown", (event) => {
      if (event.key === "Escape" && this.pinned) {
        this.pinned = null;
        this.updateReadout();
        this.schedule();
      }
    });
    on(canvas, "wheel", (event) => {
      event.preventDefault();
      this.zoomAt(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, event.clientX, event.clientY);
    }, { passive: false });
    on(canvas, "mousedown", (event) => {
      const t = this.transform();
      this.drag = { x: event.clientX, y: event.clientY, cx: this.cx, cy: this.cy, scale: t.scale, moved: false };
    });
    on(canvas, "mousemove", (event) => this.onPointerMove(event));
    on(canvas, "mouseleave", () => this.setHover(null));
    on(canvas, "click", (event) => {
      if (this.drag && this.drag.moved) return;
      const at = this.toPhoto(event.clientX, event.clientY);
      this.pinned = this.pinned || !at ? null : at;
      this.updateReadout();
      this.schedule();
    });
    on(canvas, "dblclick", () => this.resetView(true));
    tools.zoomIn.addEventListener("click", () => this.zoomAt(ZOOM_STEP * ZOOM_STEP));
    tools.zoomOut.addEventListener("click", () => this.zoomAt(1 / (ZOOM_STEP * ZOOM_STEP)));
    tools.zoomReset.addEventListener("click", () => this.resetView(false));
    tools.saveMask.addEventListener("click", () => this.saveMask());
    tools.saveOverlay.addEventListener("click", () => this.saveOverlay());

    const restyle = () => {
      if (this.layers) this.layers.configure(model.get("palette") || "contrast", this.hidden());
      this.updateLegend();
      this.updateReadout();
      this.draw();
    };
    this.handlers = {
      "change:revision": () => this.load(),
      "change:photo": () => this.photoBitmap(model.get("photo")),
      "change:mode": () => {
        this.updateControls();
        this.updateLegend();
        this.updateColorbar();
        this.draw();
      },
      "change:alpha": () => {
        this.updateControls();
        this.draw();
      },
      "change:hidden": restyle,
      "change:palette": restyle,
      "change:note": () => this.updateControls(),
      "change:fit_height": () => this.schedule(),
    };
    for (const [event, handler] of Object.entries(this.handlers)) model.on(event, handler);
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(this.stage);
  }

  dispose() {
    for (const [event, handler] of Object.entries(this.handlers)) this.model.off(event, handler);
    for (const undo of this.disposers) undo();
    this.resize.disconnect();
  }
}

function render({ model, el: root }) {
  const viewer = new Viewer(model, root);
  return () => viewer.dispose();
}

export default { render };
