// Asks for a secret (the sudo password of --ask-sudo-pass) without echo on a terminal, or reads one
// line from stdin when that is a pipe. The answer stays a Buffer in memory: never argv, env or a file.
import { Buffer } from 'node:buffer';

export async function readSecret(question: string): Promise<Buffer> {
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  if (tty) process.stderr.write(question);
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const done = () => {
      stdin.off('data', onData);
      stdin.off('end', done);
      if (tty) { stdin.setRawMode(false); process.stderr.write('\n'); }
      stdin.pause();
      const all = Buffer.concat(chunks);
      const end = all.findIndex((b) => b === 0x0a || b === 0x0d);
      resolve(Buffer.from(end < 0 ? all : all.subarray(0, end)));
      all.fill(0);
    };
    const onData = (d: Buffer) => {
      if (tty && d.includes(0x03)) { stdin.setRawMode(false); reject(new Error('interrupted')); return; }
      chunks.push(Buffer.from(d));
      d.fill(0);
      if (d.includes(0x0a) || chunks.some((c) => c.includes(0x0a) || c.includes(0x0d))) done();
    };
    if (tty) stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.once('end', done);
    stdin.resume();
  });
}
