import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root folder (this module is two levels below it: dist/util or src/util). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
