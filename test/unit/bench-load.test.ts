import { describe, expect, it } from 'vitest';
import { responseEnd } from '../../bench/lib/load.js';

const ok = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]';

describe('responseEnd', () => {
  it('finds the end of a whole response and its status', () => {
    expect(responseEnd(Buffer.from(ok))).toEqual({ end: ok.length, status: 200 });
    expect(responseEnd(Buffer.from(ok.replace('Content-Length', 'content-length')))).toEqual({ end: ok.length, status: 200 });
  });

  it('waits for the rest of the head and of the body', () => {
    expect(responseEnd(Buffer.from(ok.slice(0, 30)))).toBeUndefined();
    expect(responseEnd(Buffer.from(ok.slice(0, -1)))).toBeUndefined();
  });

  it('stops at the first response when more follows', () => {
    expect(responseEnd(Buffer.from(ok + ok.slice(0, 10)))).toEqual({ end: ok.length, status: 200 });
  });

  it('a 304 has no body', () => {
    const notModified = 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n';
    expect(responseEnd(Buffer.from(notModified))).toEqual({ end: notModified.length, status: 304 });
  });

  it('refuses a framing it does not read', () => {
    expect(() => responseEnd(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n'))).toThrow(
      /without Content-Length/,
    );
  });
});
