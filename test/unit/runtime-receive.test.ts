// Regressions found by fuzzing the CloudEvents endpoint (test/fuzz/cloudevents.test.ts).
import { describe, expect, it } from 'vitest';
import { ReceiveError, receiveCloudEvent } from '../../shared/runtime/receive.js';

const binary = {
  'content-type': 'application/json',
  'ce-id': 'x',
  'ce-source': '/fuzz',
  'ce-type': 'dev.knative.apiserver.ref.add',
  'ce-specversion': '1.0',
};

function refusal(run: () => unknown): ReceiveError {
  try {
    run();
  } catch (err) {
    if (err instanceof ReceiveError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('receiveCloudEvent: data that is a JSON number or boolean', () => {
  it('binary mode: 400 naming data (shrunk counterexample: data -5e-324)', () => {
    const err = refusal(() => receiveCloudEvent(binary, '-5e-324'));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/^data: a JSON number is not supported/);
  });

  it('structured mode: 400 naming data', () => {
    const body = JSON.stringify({ specversion: '1.0', id: 'x', source: '/fuzz', type: 'dev.knative.apiserver.ref.add', data: true });
    const err = refusal(() => receiveCloudEvent({ 'content-type': 'application/cloudevents+json' }, body));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/^data: a JSON boolean is not supported/);
  });

  it('object data is still taken', () => {
    expect(receiveCloudEvent(binary, '{"kind":"Pod"}').data).toEqual({ kind: 'Pod' });
  });
});
