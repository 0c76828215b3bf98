import { runAdapterContract } from '@auditrum/test-kit';
import express from 'express';
import { expressAdapter } from './contract-app.js';

runAdapterContract(expressAdapter('Express 5', express));
