import type { ErasureEvent } from '@auditrum/core/admin';
import { absoluteTime } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';
import { VALUE_UNKNOWN } from '../lib/unknown-value.ts';

/**
 * An erased value, in words: "erased (erasure #3: GDPR request 118, 2026-12-07 10:15:00 UTC+1)", or "erased on
 * request" where the erasures are not at hand (a row's history).
 */
export function ErasedValueView({ erasures }: { erasures: readonly ErasureEvent[] }) {
  const settings = useTimeSettings();
  if (erasures.length === 0) return <span className="value value-marker value-erased">{VALUE_UNKNOWN.erased}</span>;
  return (
    <span className="value value-marker value-erased">
      erased (
      {erasures.map((erasure, index) => (
        <span key={erasure.id}>
          {index > 0 && '; '}
          erasure #{erasure.id}: {erasure.reason}, {absoluteTime(erasure.erasedAt, settings)}
        </span>
      ))}
      )
    </span>
  );
}
