import { runAdapterContract } from '@auditrum/test-kit';
import Fastify4 from 'fastify4';
import { fastifyAdapter } from './contract-app.js';

runAdapterContract(fastifyAdapter('Fastify 4', Fastify4));
