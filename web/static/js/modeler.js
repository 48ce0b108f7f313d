// The process admin's modeler: bpmn-js with the Camunda 7 properties panel (forms, timers, conditions, lanes).
// The page hands over the BPMN and the server's validation problems; deploying posts the edited XML back.
import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, CamundaPlatformPropertiesProviderModule,
} from 'bpmn-js-properties-panel';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import './diagram.css';
import { translateModule, translateTitles } from './translate-zh.js';

function json(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

function say(message, kind) {
  const box = document.getElementById('modeler-status');
  box.textContent = message;
  box.className = `flash ${kind}`;
  box.hidden = false;
}

// SpiffWorkflow reads a multi-instance's loopDataInputRef/loopDataOutputRef as a process variable name
// (e.g. co_units), which bpmn-js cannot resolve as an element id and would drop on save. Keep each as a
// detached reference carrying that name, so saving writes the same text back.
function keepVariableRefs(modeler, warnings) {
  const moddle = modeler.get('moddle');
  return warnings.filter((w) => {
    if (!w.element || !/^bpmn:loopData(Input|Output)Ref$/.test(w.property || '')) return true;
    w.element.set(w.property, moddle.create('bpmn:Property', { id: w.value }));
    return false;
  });
}

async function start(root) {
  const modeler = new BpmnModeler({
    container: root.querySelector('.canvas'),
    propertiesPanel: { parent: root.querySelector('.properties') },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule, CamundaBehaviorsModule, translateModule],
    moddleExtensions: { camunda: camundaModdle },
  });
  translateTitles(root.querySelector('.properties'));
  window.banliModeler = modeler; // for the browser test and the console
  const filename = root.dataset.filename || 'process.bpmn';

  async function load(xml) {
    try {
      const warnings = keepVariableRefs(modeler, (await modeler.importXML(xml)).warnings);
      modeler.get('canvas').zoom('fit-viewport');
      if (warnings.length) say(`${root.dataset.msgWarnings} ${warnings.map((w) => w.message).join('; ')}`, 'error');
      return true;
    } catch (err) {
      say(`${root.dataset.msgUnreadable} ${err.message}`, 'error');
      return false;
    }
  }

  await load(json('bpmn-source'));
  const canvas = modeler.get('canvas');
  const registry = modeler.get('elementRegistry');
  for (const item of document.querySelectorAll('[data-element]')) {
    const element = registry.get(item.dataset.element);
    if (!element) continue;
    canvas.addMarker(element, 'has-problem');
    item.addEventListener('click', () => {
      modeler.get('selection').select(element);
      canvas.scrollToElement(element);
    });
  }

  // Post the edited diagram: the server validates it and deploys or shows the problems.
  const form = root.querySelector('form.deploy');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const { xml } = await modeler.saveXML({ format: true });
    form.querySelector('textarea[name=xml]').value = xml;
    form.querySelector('input[name=action]').value = event.submitter ? event.submitter.value : 'check';
    form.submit(); // the native submit fires no second submit event
  });

  root.querySelector('.download').addEventListener('click', async () => {
    const { xml } = await modeler.saveXML({ format: true });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([xml], { type: 'application/xml' }));
    link.download = filename;
    link.click();
    URL.revokeObjectURL(link.href);
  });

  // Opening a local file only loads it into the editor; the server sees it when it is checked or deployed.
  root.querySelector('.open-file').addEventListener('change', async (event) => {
    const file = event.target.files[0];
    if (file && await load(await file.text())) say(`${root.dataset.msgOpened} ${file.name}`, 'success');
  });
}

const root = document.getElementById('modeler');
if (root) start(root);
