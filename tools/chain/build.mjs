// Compiles contracts/src/*.sol with the pinned solc-js (npm `solc`) and
// writes contracts/artifacts/<Name>.json = {abi, bytecode} with sorted keys,
// deterministically. `--check` compiles and compares instead of writing:
// exits 1 naming every artifact that differs from (or is missing for) a
// fresh compile of the sources.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const solc = require('solc');

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const srcDir = path.join(root, 'contracts', 'src');
const outDir = path.join(root, 'contracts', 'artifacts');
const check = process.argv.includes('--check');

const files = fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort();
const sources = {};
for (const f of files) sources[f] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };

const input = {
  language: 'Solidity',
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};

const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
for (const e of out.errors || []) process.stderr.write(`${e.formattedMessage}\n`);
if (errors.length) process.exit(2);

function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  }
  return v;
}

const artifacts = {};
for (const f of files) {
  const name = f.replace(/\.sol$/, '');
  const c = out.contracts[f] && out.contracts[f][name];
  if (!c) {
    process.stderr.write(`${f}: no contract named ${name}\n`);
    process.exit(2);
  }
  const body = sortKeys({ abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` });
  artifacts[`${name}.json`] = `${JSON.stringify(body, null, 2)}\n`;
}

if (check) {
  let bad = 0;
  for (const [file, text] of Object.entries(artifacts)) {
    const p = path.join(outDir, file);
    const have = fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null;
    if (have !== text) {
      process.stderr.write(`contracts/artifacts/${file}: ${have === null ? 'missing' : 'differs from a fresh compile'} (run node tools/chain/build.mjs)\n`);
      bad++;
    }
  }
  for (const f of fs.existsSync(outDir) ? fs.readdirSync(outDir) : []) {
    if (f.endsWith('.json') && !(f in artifacts)) {
      process.stderr.write(`contracts/artifacts/${f}: no source in contracts/src\n`);
      bad++;
    }
  }
  process.exit(bad ? 1 : 0);
}

fs.mkdirSync(outDir, { recursive: true });
for (const [file, text] of Object.entries(artifacts)) fs.writeFileSync(path.join(outDir, file), text);
process.stdout.write(`solc ${solc.version()}: wrote ${Object.keys(artifacts).length} artifacts to contracts/artifacts\n`);
