import { runAdminAdapterContract } from '@auditrum/test-kit';
import express from 'express';
import express4 from 'express4';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { auditAdmin } from '../src/index.js';
import { expressAdminAdapter } from './admin-app.js';

runAdminAdapterContract(expressAdminAdapter('Express 5', express));
runAdminAdapterContract(expressAdminAdapter('Express 4', express4));

describe('auditAdmin() options on Express', () => {
  it('refuses a publicPath that is not a string', () => {
    const options = { pool: new pg.Pool(), authorize: () => true };
    expect(() => auditAdmin({ ...options, publicPath: 42 as unknown as string })).toThrow(/`publicPath`/);
  });
});
