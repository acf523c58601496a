// SketchLab's fixes to streamlit-drawable-canvas 0.13, applied from outside the component:
// - hide its own toolbar (the page has one set of controls: Undo and Clear);
// - scale the canvas down to its column on narrow screens (fabric.js maps the pointer
//   through the canvas's on-screen size, so strokes still land where they are drawn);
// - keep dots: fabric drops a stroke that does not move (a click or a tap), but Quick, Draw!
//   drawings use dots (eyes, buttons), so a one-pixel move is added before such a stroke ends.
// The canvas renders in an open shadow root; MutationObservers find every new one
// (Undo and Clear mount a new canvas).
const STYLE = `
  .dc-toolbar { display: none !important; }
  .dc-root[data-sl-width] { max-width: none !important; }
  .dc-scroll { overflow: visible !important; }
  .dc-container, .dc-container .canvas-container {
    width: 100% !important; height: auto !important; aspect-ratio: 1 / 1;
  }
  .dc-container canvas { width: 100% !important; height: 100% !important; touch-action: none; }
`;

// The stroke being drawn: which canvas, where it started, whether it has moved.
const stroke = { upper: null, x: 0, y: 0, id: 0, moved: false };

function nudge(type) {
  const init = { clientX: stroke.x + 1, clientY: stroke.y, bubbles: true, composed: true, cancelable: true };
  if (type === "mouse") return new MouseEvent("mousemove", init);
  const touch = new Touch({ identifier: stroke.id, target: stroke.upper, clientX: init.clientX, clientY: init.clientY });
  return new TouchEvent("touchmove", { ...init, touches: [touch], targetTouches: [touch], changedTouches: [touch] });
}

function endStroke(type, event) {
  if (stroke.upper && !stroke.moved && event.isTrusted) stroke.upper.dispatchEvent(nudge(type));
  stroke.upper = null;
}

function onMove(x, y) {
  if (stroke.upper && (x !== stroke.x || y !== stroke.y)) stroke.moved = true;
}

function fixCanvas(root) {
  const upper = root.querySelector("canvas.upper-canvas");
  if (!upper || upper.__sketchlabFixed) return;
  upper.__sketchlabFixed = true;
  const style = document.createElement("style");
  style.textContent = STYLE;
  root.appendChild(style);
  fitColumn(root);
  const start = (x, y, id) => Object.assign(stroke, { upper, x, y, id, moved: false });
  upper.addEventListener("mousedown", (e) => start(e.clientX, e.clientY, 0), true);
  upper.addEventListener("touchstart", (e) => {
    const t = e.touches[0];
    if (t) start(t.clientX, t.clientY, t.identifier);
  }, true);
}

// The canvas keeps its drawing size (its coordinates do not change) and is shown at the
// width of its column when that is narrower: a phone, a tablet in portrait.
function fitColumn(root) {
  const box = root.querySelector(".dc-root");
  const container = root.querySelector(".dc-container");
  const column = root.host && root.host.closest('[data-testid="stColumn"], [data-testid="stVerticalBlock"]');
  if (!box || !container || !column) return;
  const size = parseFloat(container.style.width) || container.offsetWidth || 400;
  const fit = () => {
    const width = Math.min(size, column.clientWidth);
    box.style.width = `${width}px`;
    box.dataset.slWidth = String(width);
  };
  new ResizeObserver(fit).observe(column);
  fit();
}

const watched = new WeakSet();

function scan() {
  for (const el of document.querySelectorAll("*")) {
    const root = el.shadowRoot;
    if (!root) continue;
    if (!watched.has(root)) {  // its content may arrive later: watch it too
      watched.add(root);
      new MutationObserver(schedule).observe(root, { childList: true, subtree: true });
    }
    if (root.querySelector(".dc-root")) fixCanvas(root);
  }
}

let queued = false;
function schedule() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => { queued = false; scan(); });
}

export default function () {
  if (window.__sketchlabCanvasFixes) return;
  window.__sketchlabCanvasFixes = true;
  document.addEventListener("mousemove", (e) => onMove(e.clientX, e.clientY), true);
  document.addEventListener("touchmove", (e) => { const t = e.touches[0]; if (t) onMove(t.clientX, t.clientY); }, true);
  document.addEventListener("mouseup", (e) => endStroke("mouse", e), true);
  document.addEventListener("touchend", (e) => endStroke("touch", e), true);
  new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
  scan();
}
