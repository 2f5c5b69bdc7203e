// POSIX shell quoting: what we print must be exactly what a user can paste.
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shq(arg: string): string {
  if (arg !== '' && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shJoin(argv: readonly string[]): string {
  return argv.map(shq).join(' ');
}
