import { runAdminAdapterContract } from '@auditrum/test-kit';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { auditAdmin } from '../src/index.js';
import { fastifyAdminAdapter } from './admin-app.js';

runAdminAdapterContract(fastifyAdminAdapter('Fastify 5', Fastify));
runAdminAdapterContract(fastifyAdminAdapter('Fastify 4', Fastify4));

describe('auditAdmin() options on Fastify', () => {
  it('refuses a publicPath that is not a string', () => {
    const options = { pool: new pg.Pool(), authorize: () => true };
    expect(() => auditAdmin({ ...options, publicPath: 42 as unknown as string })).toThrow(/`publicPath`/);
  });
});
