import { runAdapterContract } from '@auditrum/test-kit';
import Koa2 from 'koa2';
import { koaAdapter } from './contract-app.js';

runAdapterContract(koaAdapter('Koa 2', Koa2));
