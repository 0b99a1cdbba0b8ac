// The canvas component draws in a shadow root, out of reach of page CSS; this script adds
// style rules into it (canvas-shadow.css) and wires the Clear button. Its toolbar (upload,
// undo, redo, edit, reset) hid at the top right *over* the canvas until hovered, and while
// hidden still took the pointer, so strokes begun there were lost: it is moved just above
// the canvas and always shown. The canvas keeps its own pixel size (strokes come back in
// those units) and is scaled on screen to --digit-canvas (set in canvas.css from the column
// width and window height); Fabric.js maps the pointer through that scaling.
(() => {
  if (window.__digitCanvasFix) return;
  window.__digitCanvasFix = true;
  const css = __CANVAS_SHADOW_CSS__;  // assets/canvas-shadow.css, put in by app_pages/canvas.py
  const hosts = () => document.querySelectorAll('[data-testid="stBidiComponentIsolated"]');
  const patch = () => {
    for (const el of hosts()) {
      const root = el.shadowRoot;
      if (!root || !root.querySelector(".dc-toolbar")) continue;
      if (!root.__digitFixed) {
        const style = document.createElement("style");
        style.textContent = css;
        root.appendChild(style);
        root.__digitFixed = true;
        el.classList.add("digit-canvas-host");
      }
      const top = root.querySelector("canvas.upper-canvas")
        || root.querySelector("canvas:last-of-type");
      if (top && !top.getAttribute("aria-label")) {
        top.setAttribute("role", "img");
        top.setAttribute("aria-label",
                         "Drawing canvas: draw one digit here with the mouse or a finger");
      }
      for (const c of root.querySelectorAll("canvas:not([aria-label])")) {
        c.setAttribute("aria-hidden", "true");
      }
    }
  };
  document.addEventListener("click", (e) => {
    const b = e.target.closest ? e.target.closest("[data-digit-clear]") : null;
    if (!b) return;
    for (const el of hosts()) {
      const reset = el.shadowRoot
        && el.shadowRoot.querySelector('[aria-label="Reset canvas & history"]');
      if (reset) reset.click();
    }
  });
  patch();
  setInterval(patch, 100);
})();
