// Read a BPMN file the way Camunda Modeler does (bpmn-moddle with camunda-bpmn-moddle) and write it back:
// what this drops, a process admin's round trip through the modeler drops too. Usage: node roundtrip.mjs IN OUT
import { readFileSync, writeFileSync } from 'node:fs';
import { BpmnModdle } from 'bpmn-moddle';
import camunda from 'camunda-bpmn-moddle/resources/camunda.json' with { type: 'json' };

const [input, output] = process.argv.slice(2);
const moddle = new BpmnModdle({ camunda });
const { rootElement, warnings } = await moddle.fromXML(readFileSync(input, 'utf8'));
for (const w of warnings) console.error(`warning: ${w.message}`);
const { xml } = await moddle.toXML(rootElement, { format: true });
writeFileSync(output, xml);
if (warnings.length) process.exit(2);
