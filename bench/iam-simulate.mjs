// make bench: @cloud-copilot/iam-simulate (the published Node IAM simulator)
// on the same documents and request that build/bench/policy times regauth
// on (its -n output). Prints one line per case; figures only.
//
// usage: node bench/iam-simulate.mjs NODE_INPUT.json [RUNS]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

const [input, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 300);
const require = createRequire(import.meta.url);
const sim = await import('@cloud-copilot/iam-simulate');
const main = require.resolve('@cloud-copilot/iam-simulate'); // .../dist/cjs/index.js
const version = JSON.parse(readFileSync(join(dirname(main), '..', '..', 'package.json'), 'utf8')).version;

for (const c of JSON.parse(readFileSync(input, 'utf8'))) {
  const simulation = {
    request: {
      principal: c.request.principal,
      action: c.request.action,
      resource: { resource: c.request.resource, accountId: c.request.resource.split(':')[4] },
      contextVariables: c.request.context,
    },
    identityPolicies: c.identityPolicies,
    permissionBoundaryPolicies: c.permissionBoundaryPolicies,
    resourcePolicy: c.resourcePolicy,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  const first = await sim.runSimulation(simulation, {});
  if (first.resultType === 'error') {
    console.log(`iam-simulate ${c.label}: error ${JSON.stringify(first.errors).slice(0, 300)}`);
    continue;
  }
  for (let i = 0; i < 20; i++) await sim.runSimulation(simulation, {}); // warm up
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await sim.runSimulation(simulation, {});
    t.push((performance.now() - t0) * 1000);
  }
  t.sort((a, b) => a - b);
  console.log(`iam-simulate ${c.label} ${c.statements} statements: median ${t[runs >> 1].toFixed(1)} us ` +
    `p99 ${t[Math.floor(runs * 0.99)].toFixed(1)} us (${first.overallResult}; ${runs} runs, ` +
    `@cloud-copilot/iam-simulate ${version}, node ${process.version})`);
}
