import type { ErasureEvent } from '@auditrum/core/admin';
import { absoluteTime } from '../lib/time.ts';
import { useTimeSettings } from '../lib/time-settings.ts';
import { Link } from '../router/Link.tsx';

/** Above a change an erasure touched: which erasure, when, by whom and why, so no reader takes the gaps for tampering. */
export function ErasedNotice({ erasures }: { erasures: readonly ErasureEvent[] }) {
  const settings = useTimeSettings();
  return (
    <section className="erased-notice" aria-labelledby="erased-title">
      <h2 id="erased-title">Values erased</h2>
      <ul className="erasures">
        {erasures.map((erasure) => (
          <li key={erasure.id}>
            Erasure #{erasure.id} of{' '}
            <time dateTime={erasure.erasedAt} title={erasure.erasedAt}>
              {absoluteTime(erasure.erasedAt, settings)}
            </time>
            , run by <span className="mono">{erasure.erasedBy}</span>
            {erasure.actor !== null && <> at the request of {erasure.actor}</>}: {erasure.reason}
          </li>
        ))}
      </ul>
      <p>
        Its personal values were replaced with a marker; verify reports this row as erased, not as tampered.{' '}
        <Link to="/integrity">Every erasure</Link>
      </p>
    </section>
  );
}
