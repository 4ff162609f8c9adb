// An upload button with a plain label (no file counter). The chosen file goes to the kernel in 4 MB chunks,
// one message each (Jupyter's websocket refuses messages over 10 MiB); one over `max_bytes` is not sent at all.
const CHUNK = 4 * 1024 * 1024;
let uploads = 0;

function render({ model, el }) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "jupyter-widgets jupyter-button widget-button dlw-upload-button";
  const input = document.createElement("input");
  input.type = "file";
  input.style.display = "none";
  const update = () => {
    const icon = document.createElement("i");
    icon.className = "fa fa-upload";
    button.replaceChildren(icon, document.createTextNode(" " + model.get("label")));
    button.title = model.get("tooltip") || "";
    button.disabled = model.get("disabled");
    input.accept = model.get("accept");
  };
  button.addEventListener("click", () => {
    input.value = ""; // so that choosing the same file again is a change
    input.click();
  });
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const head = { name: file.name, type: file.type, size: file.size };
    const limit = model.get("max_bytes");
    if (limit > 0 && file.size > limit) {
      model.send({ ...head, event: "too_large" });
      return;
    }
    const data = await file.arrayBuffer();
    const count = Math.max(1, Math.ceil(data.byteLength / CHUNK));
    const upload = `${Date.now()}-${++uploads}`;
    for (let index = 0; index < count; index++) {
      const part = data.slice(index * CHUNK, (index + 1) * CHUNK);
      model.send({ ...head, event: "chunk", upload, index, count }, undefined, [part]);
    }
  });
  model.on("change", update);
  update();
  el.append(button, input);
  return () => model.off("change", update);
}

export default { render };
