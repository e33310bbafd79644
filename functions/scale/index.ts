// The scale function's entry point: firing alerts from the alert-bridge.
import { createFunctionHost, runFunction } from '../../shared/runtime/index.js';
import { createScaleHandlers } from './handler.js';

await runFunction(() => createFunctionHost({ name: 'scale', handlers: createScaleHandlers() }));
