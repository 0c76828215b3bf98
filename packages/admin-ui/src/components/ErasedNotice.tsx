import type { ErasureEvent } from '@auditrum/core/admin';
import { Link } from '../router/Link.tsx';
import { Time } from './Time.tsx';

/** Above a change an erasure touched: which erasure, when, by whom and why, so no reader takes the gaps for tampering. */
export function ErasedNotice({ erasures }: { erasures: readonly ErasureEvent[] }) {
  return (
    <section className="erased-notice" aria-labelledby="erased-title">
      <h2 id="erased-title">Values erased</h2>
      <ul>
        {erasures.map((erasure) => (
          <li key={erasure.id}>
            Erasure #{erasure.id}, <Time iso={erasure.erasedAt} />, run by{' '}
            <span className="mono">{erasure.erasedBy}</span>
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
