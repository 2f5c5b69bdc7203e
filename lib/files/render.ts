// Turns templates into text. openssl configs use plain {{name}} substitution (no engine to load);
// the Postfix files use EJS, loaded only when something is actually rendered.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OPENSSL_CONF_DIR, TEMPLATES_DIR } from './assets.js';
import { shq } from '../programs/shell.js';

export type TemplateRef = { engine: 'conf'; name: string } | { engine: 'ejs'; name: string };

export function templatePath(t: TemplateRef): string {
  return path.join(t.engine === 'conf' ? OPENSSL_CONF_DIR : TEMPLATES_DIR, t.name);
}

const sources = new Map<string, string>();
export function templateSource(t: TemplateRef): string {
  const p = templatePath(t);
  let text = sources.get(p);
  if (text === undefined) {
    text = readFileSync(p, 'utf8');
    sources.set(p, text);
  }
  return text;
}

export function renderConf(name: string, vars: Record<string, string | number>): string {
  return templateSource({ engine: 'conf', name }).replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const value = vars[key];
    if (value === undefined) throw new Error(`openssl-conf/${name}: no value for {{${key}}}`);
    return String(value);
  });
}

/**
 * A value for an openssl config file, read back by openssl exactly as given. # $ \ and the three quotes
 * (" ' `) are special there: escaped with a backslash (a value without them renders as it always did, so
 * an upgrade re-issues nothing). openssl trims blanks at either end of a value, except inside quotes:
 * such a value is single-quoted, where only \ and ' need escaping.
 */
export function confValue(v: string): string {
  if (/^\s|\s$/.test(v)) return `'${v.replace(/[\\']/g, (c) => `\\${c}`)}'`;
  return v.replace(/[\\$#"'`]/g, (c) => `\\${c}`);
}

export async function renderEjs(name: string, context: Record<string, unknown>): Promise<string> {
  const { default: ejs } = await import('ejs');
  return ejs.render(templateSource({ engine: 'ejs', name }), { ...context, shq }, { filename: templatePath({ engine: 'ejs', name }) });
}
