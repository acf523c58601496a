// SketchLab's fixes to streamlit-drawable-canvas 0.13, applied from outside the component:
// - hide its own toolbar (the page has one set of controls: Undo and Clear);
// - show the canvas at the width of its column when that is narrower (a phone, a tablet in
//   portrait). Its drawing size and coordinates stay as they are: fabric.js maps the
//   pointer through the canvas's on-screen size, so strokes land where they are drawn.
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

function fixCanvas(root) {
  const upper = root.querySelector("canvas.upper-canvas");
  if (!upper || upper.__sketchlabFixed) return;
  upper.__sketchlabFixed = true;
  const style = document.createElement("style");
  style.textContent = STYLE;
  root.appendChild(style);
  fitColumn(root);
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
  new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
  scan();
}
