import { runAdapterContract } from '@auditrum/test-kit';
import Fastify from 'fastify';
import { fastifyAdapter } from './contract-app.js';

runAdapterContract(fastifyAdapter('Fastify 5', Fastify));
