/**
 * Secrets in text bodies that are not `name=value` pairs: XML (and HTML) elements whose name is sensitive
 * (`<wsse:Password>…</wsse:Password>`, SOAP's WS-Security), and `name: value` lines (YAML, HTTP headers pasted as
 * text: `Authorization: Bearer …`). Attributes (`password="…"`) are `name=value` pairs: see maskPairs.
 */

// An element with text only (CDATA sections included): its name, prefix included, is repeated in its end tag.
const LEAF_ELEMENT = /<((?:[\w.-]+:)?([\w.-]+))(\s[^<>]*)?>((?:<!\[CDATA\[[\s\S]*?\]\]>|[^<])*)<\/\1\s*>/g;
// An element whose text runs to the end: the preview of a body cut inside it.
const CUT_ELEMENT = /<((?:[\w.-]+:)?([\w.-]+))(\s[^<>]*)?>([^<]*)$/;
// A line `name: value`, the name bare (a quoted one is JSON's, masked as JSON), `- ` for a YAML list item.
const NAME_VALUE_LINE = /^([ \t]*(?:-[ \t]+)?)([A-Za-z_][\w.-]*)([ \t]*:[ \t]+)(\S.*?)[ \t]*$/gm;

/** `text` with the content of every sensitive element and the value of every sensitive `name: value` line masked. */
export function maskMarkup(text: string, isSensitive: (name: string) => boolean, censor: string): string {
  let masked = text;
  if (masked.includes('</')) {
    masked = masked.replace(LEAF_ELEMENT, (element, name: string, local: string, attributes: string | undefined) =>
      isSensitive(local) ? `<${name}${attributes ?? ''}>${censor}</${name}>` : element,
    );
  }
  masked = masked.replace(CUT_ELEMENT, (element, name: string, local: string, attributes: string | undefined) =>
    isSensitive(local) ? `<${name}${attributes ?? ''}>${censor}` : element,
  );
  if (masked.includes(':')) {
    masked = masked.replace(NAME_VALUE_LINE, (line, lead: string, name: string, colon: string) =>
      isSensitive(name) ? `${lead}${name}${colon}${censor}` : line,
    );
  }
  return masked;
}
