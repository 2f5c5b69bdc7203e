// Files shipped with the package (templates, openssl configs), found relative to this module.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

// dist/lib/files/assets.js → package root is three levels up.
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const OPENSSL_CONF_DIR = path.join(PACKAGE_ROOT, 'openssl-conf');
export const TEMPLATES_DIR = path.join(PACKAGE_ROOT, 'templates');
