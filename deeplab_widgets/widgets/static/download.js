// A button that saves bytes held by the kernel as a file, through the browser (works in Voila too).
function render({ model, el }) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "dlw-download-button";
  const update = () => {
    button.textContent = model.get("label");
    button.title = model.get("tooltip") || `download ${model.get("filename")}`;
    button.disabled = !model.get("data") || model.get("data").byteLength === 0;
    for (const name of model.get("css_classes") || []) button.classList.add(name);
  };
  button.addEventListener("click", () => {
    const data = model.get("data");
    const blob = new Blob([data], { type: model.get("mime") });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = model.get("filename");
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  model.on("change", update);
  update();
  el.appendChild(button);
  return () => model.off("change", update);
}

export default { render };
