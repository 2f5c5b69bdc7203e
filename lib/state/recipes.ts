// Remembers the recipe (template + settings) each rendered file was made from, so that a run with
// nothing changed need not load the template engine to find out.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files/atomic.js';
import { STATE_FILE } from '../files/layout.js';

export type Recipes = Record<string, string>;

export function loadRecipes(projectDir: string): Recipes {
  try {
    const data = JSON.parse(readFileSync(path.join(projectDir, STATE_FILE), 'utf8')) as { recipes?: Recipes };
    return data.recipes ?? {};
  } catch {
    return {}; // missing or damaged: every rendered file is compared by content once
  }
}

export function saveRecipes(projectDir: string, recipes: Recipes): void {
  const sorted = Object.fromEntries(Object.entries(recipes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  writeFileAtomic(path.join(projectDir, STATE_FILE), `${JSON.stringify({ recipes: sorted }, null, 2)}\n`, 0o600);
}
