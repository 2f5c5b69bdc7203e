// `clean`: move generated files into a timestamped archive. Nothing is deleted, least of all the CA key.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadContext, type GlobalArgs } from '../cli/context.js';
import { withLock } from '../runner/lock.js';
import { readProjectState } from '../state/project.js';
import { caFiles, ROTATIONS_FILE, STATE_FILE } from '../files/layout.js';

// Everything that belongs to the CA goes with it: its rotations name fingerprints of its certificates.
const GENERATED = ['certs', 'etc', 'out', STATE_FILE, ROTATIONS_FILE];

export async function clean(args: GlobalArgs): Promise<void> {
  const ctx = loadContext(args);
  const { default: fse } = await import('fs-extra');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const archive = path.join('archive', `clean-${stamp}`);
  const present = GENERATED.filter((p) => existsSync(path.join(ctx.projectDir, p)));
  if (args.dryRun) {
    ctx.report.result({ archive, moved: present, dryRun: true }, () => present.map((p) => `would move ${p} to ${archive}/${p}`).join('\n') || 'nothing to clean');
    return;
  }
  await withLock(ctx.projectDir, {}, async () => {
    // Nothing is moved through a symbolic link, into a directory others can change, or out of one; the
    // revoked keys are recorded (keys.json stays) before the CA database that lists them is archived.
    readProjectState(ctx.settings).keepRevokedKeys();
    for (const p of present) {
      await fse.move(path.join(ctx.projectDir, p), path.join(ctx.projectDir, archive, p));
    }
    await fse.chmod(path.join(ctx.projectDir, 'archive'), 0o700).catch(() => undefined);
  });
  const caKey = caFiles(ctx.settings).key;
  const keptKey = existsSync(path.join(ctx.projectDir, archive, caKey)) ? path.join(archive, caKey) : null;
  ctx.report.result({ archive, moved: present, caKey: keptKey }, () =>
    [
      present.length ? `moved ${present.join(', ')} to ${archive}/` : 'nothing to clean',
      keptKey ? `the CA private key is kept in ${keptKey}; move it back to ${caKey} to keep using this CA (it needs the passphrase in certs_passphrase_file: keep that file)` : '',
    ].filter(Boolean).join('\n'),
  );
}
