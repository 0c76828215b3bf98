import { runAdapterContract } from '@auditrum/test-kit';
import Koa from 'koa';
import { koaAdapter } from './contract-app.js';

runAdapterContract(koaAdapter('Koa 3', Koa));
