import { watchAssignment } from '@auditrum/core/http';
import { describe, expect, it } from 'vitest';

describe('watchAssignment', () => {
  it('tells every watcher of an assignment, keeps the value readable, enumerable and deletable', () => {
    const req: Record<string, unknown> = { user: 'before' };
    const seen: unknown[] = [];
    watchAssignment(req, 'user', (value) => seen.push(['a', value]));
    watchAssignment(req, 'user', () => {
      throw new Error('a failing watcher is skipped');
    });
    watchAssignment(req, 'user', (value) => seen.push(['b', value]));
    expect(req.user).toBe('before');
    req.user = { id: 1 };
    expect(req.user).toEqual({ id: 1 });
    expect(seen).toEqual([
      ['a', { id: 1 }],
      ['b', { id: 1 }],
    ]);
    expect(Object.keys(req)).toEqual(['user']);
    // No hidden slot either: the state is kept outside the object (each property added to an Express request costs
    // it a new hidden class).
    expect(Reflect.ownKeys(req)).toEqual(['user']);
    expect(JSON.stringify(req)).toBe('{"user":{"id":1}}');
    delete req.user;
    expect(req.user).toBeUndefined();
  });

  it('leaves alone a property it cannot redefine, and keeps objects watched alike independent', () => {
    const frozen = Object.defineProperty({}, 'route', { value: '/fixed', writable: false, configurable: false });
    const seen: unknown[] = [];
    watchAssignment(frozen, 'route', (value) => seen.push(value));
    expect((frozen as { route: string }).route).toBe('/fixed');
    const one: Record<string, unknown> = {};
    const two: Record<string, unknown> = {};
    watchAssignment(one, 'route', (value) => seen.push(['one', value]));
    watchAssignment(two, 'route', (value) => seen.push(['two', value]));
    one.route = '/a';
    two.route = '/b';
    expect([one.route, two.route]).toEqual(['/a', '/b']);
    expect(seen).toEqual([
      ['one', '/a'],
      ['two', '/b'],
    ]);
  });

  it('reads through an object that inherits the watched property; an assignment there makes its own, unwatched', () => {
    const req: Record<string, unknown> = {};
    const seen: unknown[] = [];
    watchAssignment(req, 'route', (value) => seen.push(value));
    req.route = '/parent';
    const child = Object.create(req) as Record<string, unknown>;
    expect(child.route).toBe('/parent');
    child.route = '/child';
    expect([child.route, req.route]).toEqual(['/child', '/parent']);
    expect(Object.getOwnPropertyDescriptor(child, 'route')).toEqual({
      value: '/child',
      writable: true,
      enumerable: true,
      configurable: true,
    });
    expect(seen).toEqual(['/parent']);
  });
});
