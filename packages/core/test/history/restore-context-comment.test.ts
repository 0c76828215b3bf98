import { contextComment } from '@auditrum/core';
import { describe, expect, it } from 'vitest';

// The capture trigger reads at most 16,384 bytes of a comment's JSON and ignores a longer one whole, which would
// record a trusted write without its context (no actor, no reason). A restore's comment adds `reverts`.
const TRIGGER_LIMIT = 16_384;
const PREFIX = '/*auditrum:';

function jsonOf(comment: string): string {
  return comment.slice(PREFIX.length, -2);
}

describe('the context comment of a restore', () => {
  it('stays within what the trigger reads when every long field is "*" (six bytes each as sent) or three-byte text', () => {
    for (const fill of ['*', '語']) {
      const comment = contextComment({
        actor: { id: fill.repeat(300), label: fill.repeat(300) },
        reason: fill.repeat(2000),
        source: 'restore',
        requestId: fill.repeat(200),
        route: fill.repeat(600),
        path: fill.repeat(2000),
        userAgent: fill.repeat(600),
        ip: fill.repeat(100),
        method: fill.repeat(20),
        meta: { overrode: Array.from({ length: 100 }, (_, i) => String(i)), note: fill.repeat(2000) },
        reverts: Array.from({ length: 1000 }, (_, i) => String(9_000_000_000_000_000 + i)),
      });
      const json = jsonOf(comment);
      expect(Buffer.byteLength(json)).toBeLessThanOrEqual(TRIGGER_LIMIT);
      expect(json).not.toContain('*');
      const record = JSON.parse(json) as Record<string, unknown>;
      // Who, which request and what it reverses are never cut; the long free text is.
      expect(record).toMatchObject({
        actor_id: `${fill.repeat(255)}…`,
        request_id: `${fill.repeat(127)}…`,
        source: 'restore',
        reverts_total: 1000,
        meta: { truncated: true },
      });
      expect(record.reverts).toHaveLength(100);
      // Three-byte text fits once meta is cut; "*" takes the reason down to 100 characters too.
      expect((record.reason as string).length).toBe(fill === '*' ? 100 : 1000);
    }
  });

  it('leaves an ordinary restore context whole', () => {
    const context = { actor: { id: '42', label: 'Ann' }, reason: 'refund #98', source: 'restore', reverts: ['1533'] };
    expect(JSON.parse(jsonOf(contextComment(context)))).toEqual({
      actor_id: '42',
      actor_label: 'Ann',
      reason: 'refund #98',
      source: 'restore',
      reverts: ['1533'],
    });
  });
});
