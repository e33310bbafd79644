// Request bodies as the API server reads them: JSON, YAML, and the protobuf kubectl sends for a
// few kinds (other protobuf and CBOR are 415).
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest, unsupportedMediaType } from './errors.js';
import { decodeProtobufObject } from './protobuf.js';

const MAX_BODY = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large');
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const type = String(req.headers['content-type'] ?? '');
  if (type.includes('protobuf')) {
    let decoded: Record<string, unknown> | undefined;
    try {
      decoded = raw.length ? decodeProtobufObject(raw) : undefined;
    } catch (err) {
      throw badRequest(`the request body could not be decoded: ${(err as Error).message}`);
    }
    if (decoded) return decoded;
  }
  if (type.includes('protobuf') || type.includes('cbor')) {
    throw unsupportedMediaType(type, ['application/json', 'application/yaml']);
  }
  const text = raw.toString('utf8');
  if (!text.trim()) return undefined;
  try {
    return type.includes('yaml') ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body could not be decoded: ${(err as Error).message}`);
  }
}
