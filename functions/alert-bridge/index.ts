// The alert-bridge function's entry point. The token comes from a Secret: WEBHOOK_TOKEN (env from
// secretKeyRef) or WEBHOOK_TOKEN_FILE (a mounted file); one of them is required.
import { runFunction } from '../../shared/runtime/index.js';
import { createAlertBridgeHost } from './handler.js';

await runFunction(() =>
  createAlertBridgeHost({
    ...(process.env.WEBHOOK_TOKEN ? { token: process.env.WEBHOOK_TOKEN } : {}),
    ...(process.env.WEBHOOK_TOKEN_FILE ? { tokenFile: process.env.WEBHOOK_TOKEN_FILE } : {}),
  }),
);
