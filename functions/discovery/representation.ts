// An answer rendered once: its body bytes and a strong ETag, so a request for an unchanged answer
// costs no JSON serialisation and a client holding the ETag gets 304 without a body. Pure.
import { createHash } from 'node:crypto';

export interface Representation {
  body: Buffer;
  /** Strong: equal only for byte-identical bodies from the same source. */
  etag: string;
}

/** The JSON bytes of `value` (as express's res.json writes them) and their ETag. */
export function represent(value: unknown, source: string): Representation {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  // The source goes into the tag too: the same addresses from the status are a different answer.
  const digest = createHash('sha256').update(source).update('\n').update(body).digest('base64url');
  return { body, etag: `"${digest.slice(0, 27)}"` };
}

/** The representations of an answer's views, rendered on first use and kept while the answer object lives. */
export class RenderedViews<A extends object> {
  private readonly byAnswer = new WeakMap<A, Map<string, Representation>>();

  get(answer: A, view: string, render: () => Representation): Representation {
    let views = this.byAnswer.get(answer);
    if (!views) this.byAnswer.set(answer, (views = new Map()));
    let representation = views.get(view);
    if (!representation) views.set(view, (representation = render()));
    return representation;
  }
}

const ENTITY_TAG = /(?:W\/)?"([^"]*)"/g;

function opaqueTag(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/**
 * Whether an If-None-Match header matches `etag`: `*`, or any tag of its list by the weak
 * comparison RFC 9110 (13.1.2) prescribes for it, so a W/ prefix on either side is ignored.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const ours = opaqueTag(etag);
  for (const m of header.matchAll(ENTITY_TAG)) {
    if (opaqueTag(m[0]) === ours) return true;
  }
  return false;
}
