import type { ErasureEvent } from '@auditrum/core/admin';
import { absoluteTime } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';

/** An erased value, in words: "erased (erasure #3: GDPR request 118, 2026-12-07 10:15:00 UTC+1)". */
export function ErasedValueView({ erasures }: { erasures: readonly ErasureEvent[] }) {
  const settings = useTimeSettings();
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
