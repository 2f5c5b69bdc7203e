#!/usr/bin/env node
// `npm test`: the suite in two mocha processes at once. The multi-host lab suites (test/e2e/hosts-*)
// spend most of their time waiting for dpkg-reconfigure, Postfix and sshd in their own namespaces,
// so they run beside the rest instead of after it; each group runs its files one after another, as
// before (one namespace lab at a time; the 127.0.0.1 suites as they always ran). The lab group's
// output is printed whole when it ends, so no two reports interleave. The last line sums both:
// "N passed, N failed, N skipped". Arguments (spec files) run in one process, like plain mocha.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const MOCHA = ['node_modules/mocha/bin/mocha.js', '--no-config', '--exit', '--timeout', '180000',
  '--reporter', 'dist/test/support/summary-reporter.js'];
const SUMMARY = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m;

function specs(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .filter((f) => !f.startsWith(path.join(dir, 'container') + path.sep)) // the image test: npm run test:container
    .sort();
}

function runGroup(files, live) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...MOCHA, ...files], { stdio: [live ? 'inherit' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (stream, sink) => stream.on('data', (d) => { out += d; if (live) sink.write(d); });
    keep(child.stdout, process.stdout);
    keep(child.stderr, process.stderr);
    // Our own Ctrl-C or SIGTERM reaches the children through the process group; nothing to forward.
    child.on('close', (code, signal) => resolve({ out, code: code ?? (signal ? 1 : 0) }));
  });
}

const args = process.argv.slice(2);
const all = args.length > 0 ? args : specs('dist/test');
const isLab = (f) => /(^|\/)e2e\/hosts-[^/]*\.test\.js$/.test(f);
const groups = args.length > 0 ? [all] : [all.filter((f) => !isLab(f)), all.filter(isLab)].filter((g) => g.length > 0);

const results = await Promise.all(groups.map((g, i) => runGroup(g, i === 0)));
let passed = 0, failed = 0, skipped = 0, code = 0;
results.forEach((r, i) => {
  if (i > 0) process.stdout.write(`\n--- the multi-host lab suites ---\n${r.out}`);
  const m = SUMMARY.exec(r.out.split('\n').filter((l) => SUMMARY.test(l)).pop() ?? '');
  if (!m) failed += 1; // a group that ended without its summary line failed before or outside its tests
  else { passed += +m[1]; failed += +m[2]; skipped += +m[3]; }
  if (r.code !== 0) code = 1;
});
if (failed > 0) code = 1;
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = code;
