// Property-based fuzzing of the CloudEvents endpoint every function shares (POST / on the
// function host, decoded by shared/runtime/receive.ts and checked against the event catalog).
// The handlers here only count: the property is about what reaches a handler, not what it does.
import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog, EVENT_TYPES, type EventType } from '../../shared/events/catalog.js';
import { buildEvent } from '../../shared/events/codec.js';
import { ack, createFunctionHost, type Handler, type ListeningHost } from '../../shared/runtime/index.js';
import { runs, Tally } from './runs.js';

let handled = 0;
let host: ListeningHost;

beforeAll(async () => {
  const count: Handler = () => {
    handled++;
    return Promise.resolve(ack());
  };
  const handlers = Object.fromEntries(EVENT_TYPES.map((t) => [t, count]));
  host = await createFunctionHost({ name: 'fuzz', handlers, config: { LOG_LEVEL: 'silent', MAX_BODY_BYTES: 64 * 1024 } }).listen(
    0,
    '127.0.0.1',
  );
});

afterAll(async () => {
  // Never a crash: the host still answers its health check after every run.
  expect((await fetch(`${host.url}/healthz`)).status).toBe(200);
  await host?.close();
});

// An event of each type the functions accept, built from the catalog's own example of its data.
const validEvent = fc
  .record({ type: fc.constantFrom(...EVENT_TYPES), id: fc.uuid(), source: fc.webPath().map((p) => `/redis-operator${p}`) })
  .map(({ type, id, source }) => {
    const event = buildEvent(type, catalog[type].example as never, { source: source || '/x' }) as CloudEventV1<unknown>;
    return { ...event, id } as CloudEventV1<unknown>;
  });

type Message = { headers: Record<string, string>; body: string };

const encode = (event: CloudEventV1<unknown>, structured: boolean): Message => {
  const ce = new CloudEvent(event, false);
  const m = structured ? HTTP.structured(ce) : HTTP.binary(ce);
  const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { headers, body: m.body === undefined ? '' : String(m.body) };
};

async function send(m: Message): Promise<{ status: number; error?: string }> {
  const res = await fetch(`${host.url}/`, { method: 'POST', headers: m.headers, body: m.body });
  const text = await res.text();
  const error = text ? ((JSON.parse(text) as { error?: string }).error ?? undefined) : undefined;
  return { status: res.status, ...(error === undefined ? {} : { error }) };
}

async function refused(m: Message): Promise<string> {
  const before = handled;
  const answer = await send(m);
  expect(answer.status).toBeGreaterThanOrEqual(400);
  expect(answer.status).toBeLessThan(500);
  expect(answer.error?.length).toBeGreaterThan(0);
  expect(handled).toBe(before);
  return answer.error!;
}

describe('the CloudEvents endpoint under generated input', () => {
  it('every accepted event type, binary or structured: handled exactly once, 202', async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(validEvent, fc.boolean(), async (event, structured) => {
        tally.generated++;
        const before = handled;
        expect((await send(encode(event, structured))).status).toBe(202);
        expect(handled).toBe(before + 1);
      }),
      { numRuns: runs(80) },
    );
    tally.report('cloudevents valid');
  });

  it('a required attribute missing (binary header or structured member): 400 naming it, no handler runs', async () => {
    const tally = new Tally();
    const attribute = fc.constantFrom('id', 'source', 'type', 'specversion');
    await fc.assert(
      fc.asyncProperty(validEvent, fc.boolean(), attribute, async (event, structured, name) => {
        tally.generated++;
        const m = encode(event, structured);
        if (structured) {
          const body = JSON.parse(m.body) as Record<string, unknown>;
          delete body[name];
          m.body = JSON.stringify(body);
        } else delete m.headers[`ce-${name}`];
        expect(await refused(m)).toContain(name);
      }),
      { numRuns: runs(80) },
    );
    tally.report('cloudevents missing attribute');
  });

  it('an attribute with a generated value (ce-* header or structured member): 4xx or handled, never 5xx', async () => {
    const tally = new Tally();
    const attribute = fc.constantFrom('id', 'source', 'type', 'specversion', 'time', 'datacontenttype', 'dataschema', 'subject', 'rcname');
    const value = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(validEvent, fc.boolean(), attribute, value, async (event, structured, name, v) => {
        tally.generated++;
        const m = encode(event, structured);
        if (structured) m.body = JSON.stringify({ ...(JSON.parse(m.body) as object), [name]: v });
        else m.headers[`ce-${name}`] = v;
        const before = handled;
        const answer = await send(m);
        expect(answer.status === 202 || (answer.status >= 400 && answer.status < 500)).toBe(true);
        if (answer.status === 202) expect(handled).toBe(before + 1);
        else {
          expect(answer.error?.length).toBeGreaterThan(0);
          expect(handled).toBe(before);
        }
      }),
      { numRuns: runs(200) },
    );
    tally.report('cloudevents attribute values');
  });

  it('data of the wrong shape for its type: 400 naming the data field, no handler runs', async () => {
    const tally = new Tally();
    const typed = EVENT_TYPES.filter(
      (t) => (catalog[t].data as { safeParse(v: unknown): { success: boolean } }).safeParse(42).success === false,
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...typed), fc.jsonValue(), fc.boolean(), async (type: EventType, data, structured) => {
        fc.pre(!(catalog[type].data as { safeParse(v: unknown): { success: boolean } }).safeParse(data).success);
        tally.generated++;
        const event = {
          specversion: '1.0',
          id: 'x',
          source: '/fuzz',
          type,
          datacontenttype: 'application/json',
          data,
        } as CloudEventV1<unknown>;
        expect(await refused(encode(event, structured))).toMatch(/data/);
      }),
      { numRuns: runs(150) },
    );
    tally.report('cloudevents bad data');
  });

  it('any content type and body: 4xx with a message or handled, never 5xx', async () => {
    const tally = new Tally();
    const contentType = fc.oneof(
      fc.constantFrom('application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json', 'text/plain', ''),
      fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
    );
    const body = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      fc.string({ unit: 'binary', maxLength: 200 }),
    );
    const ceHeaders = fc.dictionary(
      fc.constantFrom('ce-id', 'ce-source', 'ce-type', 'ce-specversion', 'ce-time', 'ce-rcname'),
      fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
    );
    await fc.assert(
      fc.asyncProperty(contentType, body, ceHeaders, async (ct, raw, ce) => {
        tally.generated++;
        const before = handled;
        const answer = await send({ headers: { ...ce, ...(ct ? { 'content-type': ct } : {}) }, body: raw });
        expect(answer.status === 202 || (answer.status >= 400 && answer.status < 500)).toBe(true);
        if (answer.status !== 202) {
          expect(answer.error?.length).toBeGreaterThan(0);
          expect(handled).toBe(before);
        }
      }),
      { numRuns: runs(200) },
    );
    tally.report('cloudevents any request');
  });
});
