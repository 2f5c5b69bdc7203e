// lib/programs/exec.ts with real programs: output, exit codes, standard input, a missing program, cancellation.
import { expect } from 'chai';
import { INTERRUPTED, RunError } from '../../lib/errors.js';
import { run } from '../../lib/programs/exec.js';

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('exec.run', () => {
  it('returns stdout as bytes, stderr as text and the exit code', async () => {
    const r = await run(['sh', '-c', 'printf "a\\0b\\n"; echo oops >&2; exit 3']);
    expect(r.exitCode).to.equal(3);
    expect([...r.stdout]).to.deep.equal([0x61, 0, 0x62, 0x0a]);
    expect(r.stderr).to.equal('oops\n');
  });

  it('feeds input on stdin and gives the program no stdin otherwise', async () => {
    expect((await run(['cat'], { input: Buffer.from('secret\n') })).stdout.toString()).to.equal('secret\n');
    expect((await run(['sh', '-c', 'cat; echo end'])).stdout.toString()).to.equal('end\n');
  });

  it('survives a program that exits without reading its input', async () => {
    const r = await run(['true'], { input: Buffer.alloc(4 << 20) });
    expect(r.exitCode).to.equal(0);
  });

  it('runs in cwd with extra environment variables', async () => {
    const r = await run(['sh', '-c', 'pwd; echo "$PTR_X"; echo "$HOME"'], { cwd: '/tmp', env: { PTR_X: 'y' } });
    expect(r.stdout.toString()).to.equal(`/tmp\ny\n${process.env.HOME ?? ''}\n`);
  });

  it('names a missing program and its Debian package', async () => {
    const err = await failure(run(['openssl-does-not-exist']));
    expect(err).to.be.instanceOf(RunError);
    expect(err.message).to.equal('openssl-does-not-exist: command not found on PATH; install it');
    const pathless = await failure(run(['gpg'], { env: { PATH: '/nonexistent' } }));
    expect(pathless.message).to.equal('gpg: command not found on PATH; install it (Debian package gnupg)');
  });

  it('stops the program when the run is cancelled', async () => {
    const abort = new AbortController();
    const started = Date.now();
    setTimeout(() => abort.abort(), 100);
    const err = await failure(run(['sleep', '30'], { signal: abort.signal }));
    expect(err).to.be.instanceOf(RunError);
    expect(err.message).to.equal(INTERRUPTED);
    expect(Date.now() - started).to.be.lessThan(10_000);
  });

  it('reports a program killed by a signal', async () => {
    const err = await failure(run(['sh', '-c', 'kill -9 $$']));
    expect(err.message).to.equal('sh: could not run (killed by SIGKILL)');
  });
});
