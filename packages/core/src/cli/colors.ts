import { styleText } from 'node:util';

export type TextStyle = Parameters<typeof styleText>[0];

/** Styles text for a terminal that takes colours (`io.colors`), or returns it unchanged. */
export function textStyler(colors: boolean | undefined): (style: TextStyle, text: string) => string {
  // The CLI decides (process-io.ts); styleText must not check process.stdout again: tests write elsewhere.
  return colors === true ? (style, text) => styleText(style, text, { validateStream: false }) : (_, text) => text;
}

/**
 * Text from the log (values, reasons, names) made safe to print on a terminal: control characters, which could
 * move the cursor or rewrite earlier lines, are shown as \u escapes.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is being escaped.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
