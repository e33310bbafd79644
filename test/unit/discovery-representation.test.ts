import { describe, expect, it } from 'vitest';
import { ifNoneMatchHits, RenderedViews, represent } from '../../functions/discovery/representation.js';

const nodes = [
  { ip: '10.0.0.1', port: 10000 },
  { ip: '10.0.0.2', port: 10001 },
];

describe('represent', () => {
  it('renders the JSON bytes res.json would write', () => {
    const r = represent(nodes, 'live');
    expect(r.body.toString('utf8')).toBe('[{"ip":"10.0.0.1","port":10000},{"ip":"10.0.0.2","port":10001}]');
    expect(represent([], 'live').body.toString('utf8')).toBe('[]');
  });

  it('gives a strong, quoted ETag that is the same for the same answer', () => {
    const a = represent(nodes, 'live');
    expect(a.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(
      represent(
        nodes.map((n) => ({ ...n })),
        'live',
      ).etag,
    ).toBe(a.etag);
  });

  it('gives another ETag when the answer or its source changes', () => {
    const a = represent(nodes, 'live').etag;
    expect(represent(nodes.slice(1), 'live').etag).not.toBe(a);
    expect(represent([{ ip: '10.0.0.1', port: 10002 }, nodes[1]], 'live').etag).not.toBe(a);
    expect(represent(nodes, 'status').etag).not.toBe(a);
  });
});

describe('ifNoneMatchHits', () => {
  const etag = '"abc"';

  it('matches the same tag, and no header never matches', () => {
    expect(ifNoneMatchHits('"abc"', etag)).toBe(true);
    expect(ifNoneMatchHits(undefined, etag)).toBe(false);
    expect(ifNoneMatchHits('', etag)).toBe(false);
  });

  it('matches * whatever the tag', () => {
    expect(ifNoneMatchHits('*', etag)).toBe(true);
    expect(ifNoneMatchHits(' * ', '"other"')).toBe(true);
  });

  it('matches any tag of a list, with or without spaces', () => {
    expect(ifNoneMatchHits('"x", "abc"', etag)).toBe(true);
    expect(ifNoneMatchHits('"x","abc","y"', etag)).toBe(true);
    expect(ifNoneMatchHits('"x", "y"', etag)).toBe(false);
  });

  it('compares weakly: a W/ prefix is ignored', () => {
    expect(ifNoneMatchHits('W/"abc"', etag)).toBe(true);
    expect(ifNoneMatchHits('"abc"', 'W/"abc"')).toBe(true);
    expect(ifNoneMatchHits('W/"abd"', etag)).toBe(false);
  });

  it('does not match a tag that only contains ours, or an unquoted one', () => {
    expect(ifNoneMatchHits('"abcd"', etag)).toBe(false);
    expect(ifNoneMatchHits('"xabc"', etag)).toBe(false);
    expect(ifNoneMatchHits('abc', etag)).toBe(false);
  });
});

describe('RenderedViews', () => {
  it('renders each view of an answer once, and again for a new answer object', () => {
    const views = new RenderedViews<object>();
    let renders = 0;
    const render = (value: unknown) => () => {
      renders++;
      return represent(value, 'live');
    };
    const first = {};
    const a = views.get(first, 'nodes:', render(nodes));
    expect(views.get(first, 'nodes:', render(['other']))).toBe(a);
    expect(renders).toBe(1);
    const masters = views.get(first, 'nodes:master', render(nodes.slice(0, 1)));
    expect(masters.body.toString()).toBe('[{"ip":"10.0.0.1","port":10000}]');
    expect(renders).toBe(2);
    const refreshed = views.get({}, 'nodes:', render(nodes.slice(1)));
    expect(renders).toBe(3);
    expect(refreshed.etag).not.toBe(a.etag);
  });
});
