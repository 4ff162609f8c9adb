// CameraSegmenter's front end (anywidget ES module, no build step).
// The browser captures the webcam, sends one downscaled JPEG at a time to the kernel and draws the
// class map that comes back over the live video. While a frame is with the kernel, newer camera
// frames are skipped (never queued), so the overlay lags by at most one round trip.

const STALE_MS = 5000; // a reply this late is given up on, so a lost message cannot stall the loop

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function cameraMessage(err) {
  const name = err && err.name ? err.name : "";
  if (name === "NotAllowedError" || name === "SecurityError")
    return "Camera access was refused. Allow the camera for this page in the browser, then press Start camera.";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "No camera was found. Connect a camera, then press Start camera.";
  if (name === "NotReadableError")
    return "The camera is in use by another program or could not be started.";
  return `The camera could not be started (${name || err}).`;
}

function render({ model, el: root }) {
  root.classList.add("dlw-camera");
  const bar = el("div", "dlw-camera-bar");
  const button = el("button", "dlw-camera-start jupyter-button", "Start camera");
  const fpsLabel = el("span", "dlw-camera-fps", "– fps");
  const rttLabel = el("span", "dlw-camera-rtt", "round trip – ms");
  const status = el("div", "dlw-camera-status", "Camera off.");
  const classes = el("div", "dlw-camera-classes", "");
  bar.append(button, " ", fpsLabel, " · ", rttLabel);
  const stage = el("div", "dlw-camera-stage");
  stage.style.position = "relative";
  stage.style.display = "inline-block";
  const video = el("video", "dlw-camera-video");
  video.muted = true;
  video.playsInline = true;
  video.style.display = "block";
  video.style.maxWidth = "100%";
  const overlay = el("canvas", "dlw-camera-overlay");
  Object.assign(overlay.style, { position: "absolute", left: "0", top: "0", width: "100%", height: "100%" });
  stage.append(video, overlay);
  root.append(bar, stage, status, classes);

  const grab = document.createElement("canvas");
  // Replies reach every view of the widget (JupyterLab can show one widget in several places, e.g. "Create New
  // View for Output"); frame ids carry this view's token so each view times only the replies to its own frames.
  const view = Math.random().toString(36).slice(2, 10);
  let stream = null;
  let pending = null; // {id, sent} of the frame the kernel is working on
  let nextId = 0;
  let replies = [];
  let stopped = true;

  function setStatus(text, error) {
    status.textContent = text;
    status.classList.toggle("dlw-camera-error", Boolean(error));
    model.set("status", text);
    model.save_changes();
  }

  async function start() {
    if (stream) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("This page cannot use a camera (it needs HTTPS or localhost, and a browser with getUserMedia).", true);
      return;
    }
    try {
      setStatus("Asking for the camera…", false);
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    } catch (err) {
      stream = null;
      setStatus(cameraMessage(err), true);
      return;
    }
    video.srcObject = stream;
    try {
      await video.play();
    } catch (err) {
      setStatus(`The camera started but its video cannot play (${err.name || err}).`, true);
      return;
    }
    stopped = false;
    button.textContent = "Stop camera";
    setStatus("Camera on.", false);
    requestAnimationFrame(tick);
  }

  function stop(quiet) {
    stopped = true;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    pending = null;
    video.srcObject = null;
    button.textContent = "Start camera";
    if (!quiet) setStatus("Camera off.", false);
  }

  function tick() {
    if (stopped) return;
    const now = performance.now();
    if (pending && now - pending.sent > STALE_MS) pending = null;
    if (!pending && video.videoWidth > 0) send(now);
    requestAnimationFrame(tick);
  }

  function send(now) {
    const width = Math.min(model.get("width"), video.videoWidth);
    const height = Math.max(1, Math.round((video.videoHeight * width) / video.videoWidth));
    grab.width = width;
    grab.height = height;
    grab.getContext("2d").drawImage(video, 0, 0, width, height);
    const id = `${view}:${++nextId}`;
    pending = { id, sent: now };
    grab.toBlob(
      async (blob) => {
        if (!blob || stopped) {
          pending = null;
          return;
        }
        const data = await blob.arrayBuffer();
        model.send({ type: "frame", id, width, height }, undefined, [data]);
      },
      "image/jpeg",
      0.8,
    );
  }

  function draw(msg, buffer) {
    const { width, height } = msg;
    const labels = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const palette = model.get("palette");
    const hidden = new Set(model.get("hidden"));
    const alpha = Math.round(255 * model.get("alpha"));
    overlay.width = width;
    overlay.height = height;
    const ctx = overlay.getContext("2d");
    const image = ctx.createImageData(width, height);
    const px = image.data;
    for (let i = 0; i < labels.length; i++) {
      const c = labels[i];
      if (c === 0 || hidden.has(c)) continue; // background and hidden classes stay see-through
      const j = 4 * i;
      const rgb = palette[c] || [255, 255, 255];
      px[j] = rgb[0];
      px[j + 1] = rgb[1];
      px[j + 2] = rgb[2];
      px[j + 3] = alpha;
    }
    ctx.putImageData(image, 0, 0);
  }

  function onMessage(msg, buffers) {
    if (!msg || msg.type !== "classmap") return;
    const now = performance.now();
    if (pending && pending.id === msg.id) {
      const rtt = now - pending.sent;
      pending = null;
      replies.push(now);
      replies = replies.filter((t) => now - t < 2000);
      const fps = replies.length > 1 ? (1000 * (replies.length - 1)) / (now - replies[0]) : 0;
      fpsLabel.textContent = `${fps.toFixed(1)} fps`;
      rttLabel.textContent = `round trip ${rtt.toFixed(0)} ms (model ${msg.invoke_ms.toFixed(0)} ms)`;
      model.set("fps", fps);
      model.set("rtt_ms", rtt);
      model.save_changes();
    }
    if (msg.error) {
      setStatus(msg.error, true);
      return;
    }
    if (buffers && buffers.length && !stopped) draw(msg, buffers[0]);
    classes.textContent = msg.classes.map((c) => `${c.name} ${(100 * c.fraction).toFixed(0)}%`).join(", ");
    classes.dataset.names = msg.classes.map((c) => c.name).join(",");
  }

  button.addEventListener("click", () => (stream ? stop() : start()));
  model.on("msg:custom", onMessage);
  if (model.get("autostart")) start();
  return () => {
    model.off("msg:custom", onMessage);
    stop(true);
  };
}

export default { render };
