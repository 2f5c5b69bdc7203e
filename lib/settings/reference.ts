// The README's settings reference, generated from the catalog so that the documentation cannot drift.
// `npm run docs` rewrites the table in README.md; a unit test fails when it is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from './catalog.js';
import { NEW_SETUP_DEFAULTS } from './initial.js';

export const TABLE_BEGIN = '<!-- settings-table:begin (generated from lib/settings/catalog.ts by `npm run docs`; do not edit by hand) -->';
export const TABLE_END = '<!-- settings-table:end -->';

const cell = (text: string) => text.replace(/\|/g, '\\|');
const code = (text: string) => (text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``);

export function settingsTable(): string {
  const byInit = new Map(NEW_SETUP_DEFAULTS.map(([name, value]) => [name, value]));
  const rows = SETTINGS.map((s) => {
    let dflt = s.default === undefined ? '(empty)' : code(s.default);
    const init = byInit.get(s.name);
    if (init !== undefined && init !== s.default) dflt += `; \`init\` writes ${code(init)}`;
    return `| \`${s.name}\` | ${cell(dflt)} | ${s.seed ? 'seed' : 'new'} | ${cell(s.doc)} |`;
  });
  return ['| setting | default | origin | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** README text with the table between the markers replaced by the current one. */
export function withSettingsTable(readme: string): string {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin === -1 || end < begin) throw new Error(`README.md: the markers ${TABLE_BEGIN} … ${TABLE_END} are missing`);
  return `${readme.slice(0, begin + TABLE_BEGIN.length)}\n${settingsTable()}\n${readme.slice(end)}`;
}

// node dist/lib/settings/reference.js README.md
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? 'README.md';
  writeFileSync(file, withSettingsTable(readFileSync(file, 'utf8')));
}
