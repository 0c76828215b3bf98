import { runAdminAdapterContract } from '@auditrum/test-kit';
import express from 'express';
import express4 from 'express4';
import { expressAdminAdapter } from './admin-app.js';

runAdminAdapterContract(expressAdminAdapter('Express 5', express));
runAdminAdapterContract(expressAdminAdapter('Express 4', express4));
