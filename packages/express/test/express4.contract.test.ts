import { runAdapterContract } from '@auditrum/test-kit';
import express4 from 'express4';
import { expressAdapter } from './contract-app.js';

runAdapterContract(expressAdapter('Express 4', express4));
