#!/usr/bin/env node
// Runs the TypeScript sources through tsx; see src/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
