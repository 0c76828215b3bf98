import { runAdminAdapterContract } from '@auditrum/test-kit';
import Koa from 'koa';
import Koa2 from 'koa2';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { auditAdmin } from '../src/index.js';
import { koaAdminAdapter } from './admin-app.js';

runAdminAdapterContract(koaAdminAdapter('Koa 3', Koa));
runAdminAdapterContract(koaAdminAdapter('Koa 2', Koa2));

describe('auditAdmin() options on Koa', () => {
  it('refuses a base path that is not a path, and a publicPath that is not a string', () => {
    const options = { pool: new pg.Pool(), authorize: () => true };
    expect(() => auditAdmin({ ...options, basePath: 'audit-admin' })).toThrow(
      /`basePath` must be a path starting with "\/"/,
    );
    expect(() => auditAdmin({ ...options, publicPath: 42 as unknown as string })).toThrow(/`publicPath`/);
    expect(typeof auditAdmin({ ...options, basePath: '/' })).toBe('function');
  });
});
