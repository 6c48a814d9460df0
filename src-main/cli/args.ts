// The command line's grammar, shared by every command: flags through node's parseArgs, whole
// numbers checked against the range the option takes, and `--help` anywhere. A refusal is a
// usage error (exit 2) whose message names the option, the valid range and what was typed.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorText, usageError } from '../base/errors.js';

export const SEE_HELP = '; run `hipvpn help` for usage';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** `--help` or `-h` anywhere before a `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * parseArgs reads "-1" after a flag as another option and calls the flag's value ambiguous;
 * joined as `--flag=-1`, the value reaches the range check, which says what is allowed.
 */
function joinNegativeValues(args: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

export function parse<O extends Options>(args: string[], options: O, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(args, options), options, strict: true, allowPositionals: true });
  } catch (err) {
    throw usageError(`${errorText(err).replace(/\. To specify a positional argument.*$/, '')}${SEE_HELP}`);
  }
  if (parsed.positionals.length > positionals) throw usageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals])}${SEE_HELP}`);
  return parsed;
}

/** The value of `--flag` as a whole number in `range`, or `fallback` when the flag is absent. */
export function wholeNumber(flag: string, value: string | undefined, range: { min: number; max: number }, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < range.min || n > range.max) {
    throw usageError(`--${flag} must be a whole number ${range.min}..${range.max}, not ${JSON.stringify(value)}`);
  }
  return n;
}
