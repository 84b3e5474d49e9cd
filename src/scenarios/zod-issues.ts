/** zod's issues as field issues of a scenario file: the field's name, its value and what it should be. */
import type { z } from 'zod';
import { editDistance, nearestNames } from '../errors.js';
import type { FieldIssue } from './check.js';
import { formatPath } from './source.js';
import { ATTACK_KEYS, unknownKeyMessage } from './schema.js';

function valueAt(data: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 37) + '…' : v}'`;
  return typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : typeof v;
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number', int: 'an integer', string: 'a string', boolean: 'true or false', object: 'a mapping (key: value)',
  array: 'a list', literal: 'a literal', tuple: 'a list',
};

function nameOf(p: readonly PropertyKey[]): string {
  for (let i = p.length - 1; i >= 0; i--) if (typeof p[i] === 'string') return String(p[i]) + (i < p.length - 1 ? formatPath(p.slice(i + 1)) : '');
  return p.length === 0 ? 'the scenario' : formatPath(p);
}

export function fromZod(issues: readonly z.core.$ZodIssue[], data: unknown, base: readonly (string | number)[] = []): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const iss of issues) {
    const p: (string | number)[] = [...base, ...iss.path.map((k) => (typeof k === 'number' ? k : String(k)))];
    const name = nameOf(p);
    const value = valueAt(data, p);
    switch (iss.code) {
      case 'unrecognized_keys': {
        const messages = iss.message.split('\n');
        iss.keys.forEach((key, i) => {
          const m = messages[i] ?? `unknown key '${key}'`;
          out.push({ code: 'unknown_key', path: [...p, key], message: m, hint: `${p.length ? formatPath(p) : 'the scenario'} takes the keys listed in schema/scenario.schema.json` });
        });
        break;
      }
      case 'invalid_type': {
        if (value === undefined) {
          out.push({ code: 'missing_key', path: p, message: `${name} is required` });
        } else {
          out.push({ code: 'invalid_type', path: p, message: `${name} must be ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${describeValue(value)}` });
        }
        break;
      }
      case 'too_big':
      case 'too_small': {
        const big = iss.code === 'too_big';
        const bound = big ? (iss).maximum : (iss).minimum;
        const inclusive = iss.inclusive ?? true;
        let message: string;
        if (iss.origin === 'string') message = big ? `${name} must have at most ${String(bound)} characters` : Number(bound) <= 1 ? `${name} must not be empty` : `${name} must have at least ${String(bound)} characters`;
        else if (iss.origin === 'array' || iss.origin === 'set') message = big ? `${name} must have at most ${String(bound)} items` : `${name} must have at least ${String(bound)} item${Number(bound) === 1 ? '' : 's'}`;
        else message = `${name} must be ${big ? (inclusive ? '≤' : '<') : (inclusive ? '≥' : '>')} ${String(bound)}, got ${describeValue(value)}`;
        out.push({ code: 'invalid_value', path: p, message });
        break;
      }
      case 'invalid_value': {
        const values = iss.values.map((v) => String(v));
        const near = typeof value === 'string' ? nearestNames(value, values, 1)[0] : undefined;
        const msg = values.length === 1 ? `${name} must be '${values[0]}', got ${describeValue(value)}`
          : `${name} must be one of ${values.join(', ')}, got ${describeValue(value)}` + (near !== undefined ? `; did you mean '${near}'?` : '');
        out.push({ code: 'invalid_value', path: p, message: msg });
        break;
      }
      case 'invalid_format':
        out.push({ code: 'invalid_value', path: p, message: `${name} ${iss.message.startsWith('must') ? iss.message : 'has the wrong format'}, got ${describeValue(value)}` });
        break;
      case 'invalid_union': {
        const u = iss;
        if ((u as { note?: string }).note === 'No matching discriminator' || (u.errors.length === 0 && 'discriminator' in u)) {
          const options = ((u as unknown as { options?: unknown[] }).options ?? []).map(String);
          if (value === undefined) {
            out.push({ code: 'missing_key', path: p, message: `${name} is required`, ...(options.length ? { hint: `one of: ${options.join(', ')}` } : {}) });
            // A misspelt discriminator is also an unknown key: point at it.
            const parent = valueAt(data, p.slice(0, -1));
            const key = String(p[p.length - 1]);
            if (parent !== null && typeof parent === 'object' && !Array.isArray(parent)) {
              const known = formatPath(p.slice(0, -1)) === 'attack' ? ATTACK_KEYS : [key];
              for (const k of Object.keys(parent)) {
                if (known.includes(k)) continue;
                if (known.length > 1 || editDistance(k.toLowerCase(), key.toLowerCase()) <= 2) {
                  out.push({ code: 'unknown_key', path: [...p.slice(0, -1), k], message: unknownKeyMessage(k, known) });
                }
              }
            }
          } else {
            const near = typeof value === 'string' ? nearestNames(value, options, 1)[0] : undefined;
            out.push({
              code: 'invalid_value', path: p,
              message: `${name} must be one of ${options.join(', ')}, got ${describeValue(value)}` + (near !== undefined ? `; did you mean '${near}'?` : ''),
            });
          }
          break;
        }
        // The branches whose type matched the value say what is wrong; if none did, the type is wrong.
        const matched = u.errors.filter((branch) => !branch.some((b) => b.code === 'invalid_type' && b.path.length === 0));
        if (matched.length > 0) {
          out.push(...fromZod(matched[0], data, p));
        } else {
          const expected = [...new Set(u.errors.flatMap((b) => b.filter((x) => x.code === 'invalid_type').map((x) => TYPE_NAMES[(x).expected] ?? (x).expected)))];
          out.push(value === undefined
            ? { code: 'missing_key', path: p, message: `${name} is required` }
            : { code: 'invalid_type', path: p, message: `${name} must be ${expected.join(' or ')}, got ${describeValue(value)}` });
        }
        break;
      }
      default:
        out.push({ code: 'invalid_value', path: p, message: `${name}: ${iss.message}` });
    }
  }
  return out;
}
