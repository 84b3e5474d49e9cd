import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../models/io.js';

/**
 * The compiled worker script `<name>.js` of a source folder: beside the calling module when it runs from `dist/`,
 * else in the built package's `dist/<folder>/` (e.g. inside a test runner that transforms sources in memory).
 * `undefined` when neither exists.
 *
 * @param moduleUrl the caller's `import.meta.url`
 * @param folder the caller's folder below `src/`, e.g. `train`
 */
export function compiledWorkerScript(moduleUrl: string, folder: string, name: string): string | undefined {
  const here = fileURLToPath(new URL(`./${name}.js`, moduleUrl));
  if (existsSync(here)) return here;
  const built = path.join(PACKAGE_ROOT, 'dist', folder, `${name}.js`);
  return existsSync(built) ? built : undefined;
}
