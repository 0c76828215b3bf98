import { runAdminAdapterContract } from '@auditrum/test-kit';
import Koa from 'koa';
import Koa2 from 'koa2';
import { koaAdminAdapter } from './admin-app.js';

runAdminAdapterContract(koaAdminAdapter('Koa 3', Koa));
runAdminAdapterContract(koaAdminAdapter('Koa 2', Koa2));
