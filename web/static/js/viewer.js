// Read-only diagrams: an item's process with its completed, active and overdue steps, and the step overview
// with how many items wait at each step. Each container names the JSON endpoint that describes it.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import { isExpanded } from 'bpmn-js/lib/util/DiUtil';
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import './diagram.css';

const MARKS = { completed: 'step-completed', active: 'step-active', overdue: 'step-overdue' };

function badge(text, kind) {
  const span = document.createElement('span');
  span.className = `step-badge ${kind}`;
  span.textContent = text;
  return span;
}

function isFrame(element) {
  return element.type === 'bpmn:SubProcess' && isExpanded(element);
}

// Give the canvas the diagram's proportions (within limits), so a wide process is not a thin strip.
function fitHeight(box, canvas) {
  const { inner } = canvas.viewbox();
  if (inner.width > 0) {
    const height = Math.max(240, Math.min(640, (box.clientWidth * inner.height) / inner.width + 40));
    box.style.height = `${Math.round(height)}px`;
    canvas.resized();
  }
  canvas.zoom('fit-viewport', 'auto');
}

async function show(container) {
  const note = container.querySelector('.diagram-note');
  try {
    const response = await fetch(container.dataset.url, { credentials: 'same-origin' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const state = await response.json();
    const box = container.querySelector('.diagram-canvas');
    const viewer = new NavigatedViewer({ container: box });
    await viewer.importXML(state.xml);
    const canvas = viewer.get('canvas');
    const registry = viewer.get('elementRegistry');
    const overlays = viewer.get('overlays');
    fitHeight(box, canvas);
    for (const [key, marker] of Object.entries(MARKS)) {
      for (const id of state[key] || []) {
        const element = registry.get(id);
        // an expanded subprocess is a frame around steps: outline it rather than fill it
        if (element) canvas.addMarker(id, isFrame(element) ? `${marker}-frame` : marker);
      }
    }
    for (const [id, count] of Object.entries(state.counts || {})) {
      if (!registry.get(id)) continue;
      const html = document.createElement('div');
      html.className = 'step-badges';
      html.append(badge(count.waiting, 'waiting'));
      if (count.late) html.append(badge(count.late, 'late'));
      overlays.add(id, { position: { top: -12, right: 12 }, html });
    }
    container.classList.add('loaded');
    if (note) note.hidden = true;
  } catch (err) {
    if (note) note.textContent = `${container.dataset.msgFailed} (${err.message})`;
  }
}

document.querySelectorAll('.bpmn-diagram[data-url]').forEach(show);
