// After each test file: the temp dirs its certificates were made in are removed (the runner ends
// its worker processes with a signal, so no exit handler runs).
import { afterAll } from 'vitest';
import { removeCertDirs } from './certificates.js';

afterAll(removeCertDirs);
