// The alert-bridge host: POST /webhooks/alertmanager (the reference's path) with a bearer token,
// a body limit and the catalog's payload schema; answers 200 only once the Broker accepted every
// event, 5xx otherwise so Alertmanager sends the group again.
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import express, { type Request, type Response } from 'express';
import { createEmitter, EmitError, type Emitter } from '../../shared/events/emitter.js';
import { ConfigError, createFunctionHost, type BaseConfig, type FunctionHost } from '../../shared/runtime/index.js';
import { alertEvents, parseWebhook } from './bridge.js';

export const WEBHOOK_PATH = '/webhooks/alertmanager';

export interface AlertBridgeOptions {
  /** The expected bearer token (env WEBHOOK_TOKEN). */
  token?: string;
  /** A file holding it, re-read on every request so a rotated Secret volume applies (env WEBHOOK_TOKEN_FILE). */
  tokenFile?: string;
  /** Per attempt when posting to the sink. Default 5 s. */
  sinkTimeoutMs?: number;
  /** Attempts after the first. Default 2: the whole answer must stay inside the 30 s request timeout. */
  sinkRetries?: number;
  config?: Partial<BaseConfig>;
}

function tokenSource(opts: AlertBridgeOptions): () => string {
  if (opts.token) {
    const token = opts.token;
    return () => token;
  }
  if (opts.tokenFile) {
    const file = opts.tokenFile;
    // Fail at start-up on an unreadable file rather than with 401s that look like a wrong token.
    let first: string;
    try {
      first = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError([`WEBHOOK_TOKEN_FILE ${file} cannot be read: ${(err as Error).message}`]);
    }
    if (!first) throw new ConfigError([`WEBHOOK_TOKEN_FILE ${file} is empty`]);
    return () => readFileSync(file, 'utf8').trim();
  }
  throw new ConfigError(['WEBHOOK_TOKEN or WEBHOOK_TOKEN_FILE is required: the webhook does not run unauthenticated']);
}

function bearerMatches(header: string | undefined, expected: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const want = Buffer.from(expected);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function createAlertBridgeHost(opts: AlertBridgeOptions = {}): FunctionHost {
  const expectedToken = tokenSource(opts);
  let emitter: Emitter | undefined;
  const host = createFunctionHost({
    name: 'alert-bridge',
    ...(opts.config ? { config: opts.config } : {}),
    routes: (router, h) => {
      const limit = h.config.MAX_BODY_BYTES;
      const unauthorized = (res: Response, message: string) => {
        res.setHeader('WWW-Authenticate', 'Bearer realm="alertmanager"');
        res.status(401).json({ error: message });
      };
      router.post(
        WEBHOOK_PATH,
        (req: Request, res: Response, next) => {
          // Before the body is read: an unauthenticated caller costs no parsing.
          const auth = req.header('authorization');
          let expected: string;
          try {
            expected = expectedToken();
          } catch (err) {
            h.log.error({ err }, 'webhook token unreadable');
            res.status(503).json({ error: 'webhook token unavailable' });
            return;
          }
          if (!auth) return unauthorized(res, 'a bearer token is required (Authorization: Bearer <token>)');
          if (!bearerMatches(auth, expected)) return unauthorized(res, 'the bearer token is not valid');
          next();
        },
        express.text({ type: () => true, limit }),
        async (req: Request, res: Response) => {
          const receivedAt = new Date();
          const raw = typeof req.body === 'string' ? req.body : '';
          let body: unknown;
          try {
            body = JSON.parse(raw);
          } catch {
            res.status(400).json({ error: 'the body is not valid JSON' });
            return;
          }
          const parsed = parseWebhook(body);
          if (!parsed.ok) {
            res.status(400).json({ error: `${parsed.field}: ${parsed.message}`, field: parsed.field });
            return;
          }
          const { events, skipped } = alertEvents(parsed.payload, `/redis-operator/${h.name}`, receivedAt);
          for (const s of skipped) h.log.warn({ alert: s.alertname, reason: s.reason }, 'alert skipped: it names no cluster');
          if (events.length > 0) {
            const sink = h.config.K_SINK;
            if (!sink) {
              h.log.error('K_SINK is not set: no Broker to post alerts to');
              res.status(503).json({ error: 'no event sink configured (K_SINK)' });
              return;
            }
            emitter ??= createEmitter({ sink, timeoutMs: opts.sinkTimeoutMs ?? 5000, retries: opts.sinkRetries ?? 2 });
            const results = await Promise.allSettled(events.map((e) => emitter!.send(e)));
            const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ id: events[i]!.id, error: r.reason as unknown }] : []));
            if (failed.length > 0) {
              const first = failed[0]!.error;
              const message = first instanceof EmitError ? first.message : String(first);
              h.log.error({ failed: failed.length, of: events.length, err: message }, 'the Broker did not accept every alert event');
              // 502 even when the Broker said 4xx: only a 5xx makes Alertmanager retry the group.
              res.status(502).json({ error: `${failed.length} of ${events.length} events not accepted by the sink: ${message}` });
              return;
            }
          }
          h.log.info({ events: events.length, skipped: skipped.length, groupKey: parsed.payload.groupKey }, 'alerts forwarded');
          res.status(200).json({
            events: events.map((e) => ({ id: e.id, type: e.type, cluster: `${String(e['rcnamespace'])}/${String(e['rcname'])}` })),
            skipped,
          });
        },
      );
    },
  });
  return host;
}
