import { ErasedValue } from '../lib/erased.ts';
import { TooLargeValue } from '../lib/oversized.ts';
import { UnknownValue } from '../lib/unknown-value.ts';
import { describeMarker, isBodyMarker, isPlainObject } from '../lib/values.ts';
import { ErasedValueView } from './ErasedValueView.tsx';
import { JsonTree } from './JsonTree.tsx';
import { isLongText, LongText } from './LongText.tsx';

/**
 * A stored value, always rendered as text: strings quoted only when they could be mistaken for another
 * type (unless `quoteStrings` is off, e.g. for headers, which are all strings), objects and arrays as
 * indented JSON (large ones folded), long texts clipped with "Show all", body markers described in words.
 */
export function ValueView({
  value,
  quoteStrings = true,
}: {
  value: unknown;
  /** `true`: quote a string only when it could be read as another type; `'always'`: as JSON (inside a JSON value). */
  quoteStrings?: boolean | 'always';
}) {
  if (value === undefined) return <span className="value value-absent">(absent)</span>;
  if (value === null) return <span className="value value-null">null</span>;
  if (value instanceof UnknownValue) return <span className="value value-marker">{String(value)}</span>;
  if (value instanceof ErasedValue) return <ErasedValueView erasures={value.erasures} />;
  if (value instanceof TooLargeValue) {
    return (
      <span className="value value-marker" title={`SHA-256 ${value.sha256}`}>
        too large to keep ({value.bytes.toLocaleString('en')} bytes): cannot be shown or restored
      </span>
    );
  }
  if (isBodyMarker(value)) {
    const preview = typeof value.preview === 'string' ? value.preview : null;
    return (
      <div className="value value-marker">
        <p>{describeMarker(value)}</p>
        {preview !== null && <pre className="json">{preview}</pre>}
      </div>
    );
  }
  if (Array.isArray(value) || isPlainObject(value)) return <JsonTree value={value} />;
  if (typeof value === 'string') {
    if (isLongText(value)) return <LongText text={value} />;
    const looksLikeOther =
      quoteStrings === 'always' ||
      (quoteStrings &&
        (value.trim() !== value || ['', 'null', 'true', 'false'].includes(value) || !Number.isNaN(Number(value))));
    return <span className="value value-string">{looksLikeOther ? JSON.stringify(value) : value}</span>;
  }
  return <span className={`value value-${typeof value}`}>{String(value)}</span>;
}
