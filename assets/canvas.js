// The canvas component draws in a shadow root, out of reach of page CSS; this script adds
// style rules into it (canvas-shadow.css) and wires the page's toolbar above the canvas
// (app_pages/canvas.py). The component's own toolbar is hidden: its pencil turned drawing
// into selecting (a stroke became a selection box), its upload arrow means nothing when
// every stroke is sent anyway, and its bin duplicated Clear. Our Undo, Redo and Clear press
// the hidden buttons, so the component keeps its history, and take their disabled state
// from them. The canvas keeps its own pixel size (strokes come back in those units) and is
// scaled on screen to --digit-canvas (set in canvas.css from the column width and window
// height); Fabric.js maps the pointer through that scaling.
(() => {
  if (window.__digitCanvasFix) return;
  window.__digitCanvasFix = true;
  const css = __CANVAS_SHADOW_CSS__;  // assets/canvas-shadow.css, put in by app_pages/canvas.py
  const theirs = {undo: "Undo", redo: "Redo", clear: "Reset canvas & history"};
  const hosts = () => document.querySelectorAll('[data-testid="stBidiComponentIsolated"]');
  const button = (el, tool) => el.shadowRoot
    && el.shadowRoot.querySelector(`.dc-toolbar [aria-label="${theirs[tool]}"]`);
  const press = (tool) => {
    for (const el of hosts()) {
      const b = button(el, tool);
      if (b && !b.disabled) b.click();
    }
    setTimeout(patch, 0);
  };
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
      // Undo and Redo are offered when the component's history has a step to take.
      for (const tool of ["undo", "redo"]) {
        const b = button(el, tool);
        if (!b) continue;
        for (const ours of document.querySelectorAll(`[data-digit-tool="${tool}"]`)) {
          if (ours.disabled !== b.disabled) ours.disabled = b.disabled;
        }
      }
    }
  };
  document.addEventListener("click", (e) => {
    const b = e.target.closest ? e.target.closest("[data-digit-tool]") : null;
    if (b && !b.disabled) press(b.dataset.digitTool);
  });
  // Ctrl+Z / Ctrl+Shift+Z (Cmd on a Mac), except while typing in a field.
  document.addEventListener("keydown", (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.altKey || e.key.toLowerCase() !== "z") return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (!document.querySelector("[data-digit-tool]")) return;
    e.preventDefault();
    press(e.shiftKey ? "redo" : "undo");
  });
  // Patched as soon as the DOM changes (a MutationObserver's callback runs before the next
  // paint and the next input event): a new canvas, such as the fresh one after a Send, is
  // never shown unscaled, with the component's toolbar or with touch scrolling the page,
  // not even for a frame. The page is watched for new canvases, each canvas's shadow root
  // for its own changes (strokes, the history's buttons turning on and off). Streamlit
  // attaches a shadow root a moment after its host appears, which no observer reports:
  // until it has, the next frame looks again (a frame callback runs before that frame is
  // painted).
  const watched = new WeakSet();
  let queued = false, framed = false;
  const watch = () => {
    let waiting = false;
    for (const el of hosts()) {
      const root = el.shadowRoot;
      if (!root) {
        waiting = true;
      } else if (!watched.has(root)) {
        watched.add(root);
        new MutationObserver(soon).observe(root, {
          childList: true, subtree: true, attributes: true, attributeFilter: ["disabled"],
        });
      }
    }
    patch();
    if (waiting && !framed) {
      framed = true;
      requestAnimationFrame(() => { framed = false; watch(); });
    }
  };
  function soon() {
    if (queued) return;
    queued = true;
    queueMicrotask(() => { queued = false; watch(); });
  }
  new MutationObserver(soon).observe(document.body, {childList: true, subtree: true});
  watch();
})();
