/**
 * Where things go. JSON mode (`--json`, or stdout is not a terminal): stdout carries only JSON, one
 * object per line, and nothing is coloured or animated. Human mode (a terminal): text and the live
 * display on stdout. Messages for the user go to stderr in both modes.
 */
import { styleText } from 'node:util';

export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Output {
  /** JSON lines on stdout, nothing else there. */
  readonly json: boolean;
  /** Colours (human mode on a terminal, NO_COLOR unset, TERM not dumb). */
  readonly color: boolean;
  readonly stdout: OutputStream;
  /** One object as one line of JSON on stdout. */
  record(value: unknown): void;
  /** A line of text for a person, on stdout (human mode only; ignored in JSON mode). */
  say(text: string): void;
  /** A message on stderr. */
  warn(text: string): void;
  paint(style: Parameters<typeof styleText>[0], text: string): string;
}

export interface OutputDeps {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
  json: boolean;
}

export function wantsColor(stream: OutputStream, env: Record<string, string | undefined>): boolean {
  if (!stream.isTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return env.TERM !== 'dumb';
}

export function createOutput({ stdout, stderr, env, json: asked }: OutputDeps): Output {
  const json = asked || !stdout.isTTY;
  const color = !json && wantsColor(stdout, env);
  return {
    json,
    color,
    stdout,
    record: (value) => void stdout.write(`${JSON.stringify(value)}\n`),
    say: (text) => {
      if (!json) stdout.write(`${text}\n`);
    },
    warn: (text) => void stderr.write(`${text}\n`),
    paint: (style, text) => (color ? styleText(style, text, { validateStream: false }) : text),
  };
}
