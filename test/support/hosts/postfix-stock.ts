// Postfix exactly as Debian's installer leaves it: debconf answers "Internet Site" and the mail name,
// `dpkg-reconfigure postfix` writes main.cf and master.cf (chroot = y, the snakeoil certificate that
// ssl-cert made, smtp_tls_CApath, smtpd_relay_restrictions …), and /etc/init.d/postfix starts it. The only
// addition is a log file (there is no syslog in a lab host).
import fs from 'node:fs';
import path from 'node:path';
import type { Keeper } from './keeper.js';

export interface StockPostfix {
  /** The host's mail log (maillog_file). */
  log(): string;
  /** Length of the log now; pass as `since`. */
  mark(): number;
  waitForLog(re: RegExp, opts?: { since?: number; timeoutMs?: number }): Promise<string>;
  /** /var/mail/<user> ('' when there is none). */
  mailbox(user: string): string;
  postconf(args: string[]): Promise<string>;
  queue(): Promise<string>;
  flush(): Promise<void>;
  /** sendmail -f FROM TO on the host, with a Subject. */
  send(from: string, to: string, subject: string, body?: string): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function installStockPostfix(keeper: Keeper, dir: string, fqdn: string, extra: Record<string, string> = {}): Promise<StockPostfix> {
  // What ssl-cert's postinst does on a new install; Postfix's configuration then appends its TLS part
  // (snakeoil certificate, smtpd_tls_security_level = may, smtp_tls_CApath …), as on a real host.
  await keeper.run(['make-ssl-cert', 'generate-default-snakeoil']);
  await keeper.run(['debconf-set-selections'], {
    input: `postfix postfix/main_mailer_type select Internet Site\npostfix postfix/mailname string ${fqdn}\n`,
  });
  await keeper.run(['dpkg-reconfigure', '-f', 'noninteractive', 'postfix'], { env: { DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 180_000 });
  const params = { maillog_file: '/var/log/mail.log', ...extra };
  await keeper.run(['postconf', '-e', ...Object.entries(params).map(([k, v]) => `${k}=${v}`)]);
  await keeper.run(['/etc/init.d/postfix', 'start']);
  return stockPostfix(keeper, dir);
}

export function stockPostfix(keeper: Keeper, dir: string): StockPostfix {
  const logFile = path.join(dir, 'log', 'mail.log');
  const log = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  return {
    log,
    mark: () => log().length,
    async waitForLog(re, o = {}) {
      const deadline = Date.now() + (o.timeoutMs ?? 30_000);
      for (;;) {
        const text = log().slice(o.since ?? 0);
        const m = text.split('\n').find((l) => re.test(l));
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`${keeper.name}: no log line matching ${re} within ${o.timeoutMs ?? 30_000} ms; log tail:\n${text.split('\n').slice(-25).join('\n')}`);
        await sleep(100);
      }
    },
    mailbox(user) {
      try { return fs.readFileSync(path.join(dir, 'mail', user), 'utf8'); } catch { return ''; }
    },
    postconf: async (args) => (await keeper.run(['postconf', ...args])).stdout,
    queue: async () => (await keeper.run(['postqueue', '-p'])).stdout,
    async flush() { await keeper.run(['postqueue', '-f']); },
    async send(from, to, subject, body = 'lab test mail') {
      await keeper.run(['sendmail', '-f', from, '--', to], { input: `From: ${from}\nTo: ${to}\nSubject: ${subject}\n\n${body}\n` });
    },
  };
}
