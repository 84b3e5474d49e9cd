/** Looking up a model's classes by name or index: the one lookup the attacks, the CLI and the scenarios share. */

/** Options for {@link findClass}. */
export interface FindClassOptions {
  /** Also read a string of digits that names no class as an index, e.g. `'3'` (command lines and label files). */
  indexText?: boolean;
}

/**
 * The index of a class named by its name or by its index (a whole number in range); -1 when the model has no such
 * class. Callers word the error, since a CLI flag, a scenario field and a library option each point elsewhere.
 *
 * @example
 * findClass(clf.classNames, 'bedroom'); // 1
 * findClass(clf.classNames, '3', { indexText: true }); // 3
 */
export function findClass(classNames: readonly string[], ref: string | number, options: FindClassOptions = {}): number {
  if (typeof ref === 'number') return Number.isInteger(ref) && ref >= 0 && ref < classNames.length ? ref : -1;
  const i = classNames.indexOf(ref);
  if (i >= 0 || !options.indexText || !/^\d+$/.test(ref)) return i;
  const k = Number(ref);
  return k < classNames.length ? k : -1;
}
