// pods/{name}/log as Kubernetes serves it: the API server checks the options and the container,
// finds the Pod's node, and streams the answer of that node's kubelet (GET
// /containerLogs/{namespace}/{pod}/{container}) at the Node's InternalIP and
// status.daemonEndpoints.kubeletEndpoint.Port.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ApiCore } from './core.js';
import { ApiError, badRequest, invalid, type StatusCause } from './errors.js';
import type { Obj } from './store.js';

/** The kubelet port Kubernetes assumes when a Node does not say. */
const DEFAULT_KUBELET_PORT = 10250;
/** How much of a kubelet's error answer is kept, as the API server's response checker does. */
const MAX_ERROR_BODY = 50_000;

const LOG_OPTIONS = ['container', 'follow', 'previous', 'timestamps', 'sinceSeconds', 'sinceTime', 'tailLines', 'limitBytes'];
const BOOLEANS = ['follow', 'previous', 'timestamps'];
const INTEGERS = ['sinceSeconds', 'tailLines', 'limitBytes'];

/** The query decoded as PodLogOptions (400 when it does not decode) and ValidatePodLogOptions (422). */
function validateOptions(name: string, q: URLSearchParams): void {
  for (const key of BOOLEANS) {
    const v = q.get(key);
    if (v !== null && !/^(1|t|T|true|TRUE|True|0|f|F|false|FALSE|False)$/.test(v))
      throw badRequest(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
  }
  for (const key of INTEGERS) {
    const v = q.get(key);
    if (v !== null && !/^[+-]?\d+$/.test(v)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  }
  const sinceTime = q.get('sinceTime');
  if (sinceTime !== null && Number.isNaN(Date.parse(sinceTime)))
    throw badRequest(`parsing time ${JSON.stringify(sinceTime)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
  const int = (key: string): number | undefined => (q.get(key) === null ? undefined : Number(q.get(key)));
  const causes: StatusCause[] = [];
  const tailLines = int('tailLines');
  if (tailLines !== undefined && tailLines < 0)
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'tailLines',
      message: `Invalid value: ${tailLines}: must be greater than or equal to 0`,
    });
  const limitBytes = int('limitBytes');
  if (limitBytes !== undefined && limitBytes < 1)
    causes.push({ reason: 'FieldValueInvalid', field: 'limitBytes', message: `Invalid value: ${limitBytes}: must be greater than 0` });
  const sinceSeconds = int('sinceSeconds');
  if (sinceSeconds !== undefined && sinceTime !== null)
    causes.push({
      reason: 'FieldValueForbidden',
      field: '',
      message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified',
    });
  else if (sinceSeconds !== undefined && sinceSeconds < 1)
    causes.push({ reason: 'FieldValueInvalid', field: 'sinceSeconds', message: `Invalid value: ${sinceSeconds}: must be greater than 0` });
  if (causes.length) throw invalid('PodLogOptions', '', name, causes);
}

/** The container the request is about: named, or the only one (init containers count, as in Kubernetes). */
function containerOf(pod: Obj, name: string, q: URLSearchParams): string {
  const names: string[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c: Obj) => c.name);
  const container = q.get('container');
  if (container) {
    if (!names.includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
    return container;
  }
  const regular = pod.spec?.containers ?? [];
  if (regular.length === 1) return regular[0].name;
  if (regular.length === 0) throw badRequest(`a container name must be specified for pod ${name}`);
  throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
}

/** Where the node's kubelet listens: its InternalIP (else another address) and the port it recorded. */
function kubeletAddress(node: Obj): { host: string; port: number } {
  const addresses: Obj[] = node.status?.addresses ?? [];
  const preferred = ['InternalIP', 'ExternalIP', 'Hostname'];
  const address = preferred.map((type) => addresses.find((a) => a.type === type)).find(Boolean);
  if (!address) throw new ApiError(500, 'InternalError', `Internal error occurred: no preferred addresses found; known addresses: []`);
  const port = Number(node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0);
  return { host: String(address.address), port: port > 0 ? port : DEFAULT_KUBELET_PORT };
}

/** A kubelet's refusal as the API server passes it on (its generic response checker). */
function kubeletError(code: number, body: string, name: string): ApiError {
  if (code === 400) return badRequest(body);
  if (code === 500) return new ApiError(500, 'InternalError', `Internal error occurred: ${body}`);
  const details = { name, kind: 'pods/log' };
  if (code === 404) return new ApiError(404, 'NotFound', `the server could not find the requested resource ( pods/log ${name})`, details);
  if (code === 422)
    return new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request ( pods/log ${name})`, details);
  return new ApiError(
    code,
    '',
    `an error on the server ("${body}") has prevented the request from succeeding ( pods/log ${name})`,
    details,
  );
}

export async function servePodLog(
  core: ApiCore,
  req: IncomingMessage,
  res: ServerResponse,
  namespace: string,
  name: string,
  q: URLSearchParams,
): Promise<void> {
  validateOptions(name, q);
  const pod = core.get(core.type('', 'v1', 'pods'), namespace, name);
  const container = containerOf(pod, name, q);
  const nodeName: string | undefined = pod.spec?.nodeName;
  if (!nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  const { host, port } = kubeletAddress(core.get(core.type('', 'v1', 'nodes'), undefined, nodeName));
  const query = new URLSearchParams();
  for (const key of LOG_OPTIONS) {
    const v = q.get(key);
    if (key !== 'container' && v !== null) query.set(key, v);
  }
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const path = `/containerLogs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}`;
  const url = `http://${hostPort}${path}${query.size ? `?${query}` : ''}`;
  const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
    const out = http.get(url, { agent: false }, resolve);
    out.on('error', (err: NodeJS.ErrnoException) => {
      // Go's wording, as kubectl shows it: Get "<url>": dial tcp <addr>: connect: connection refused
      const why = err.code === 'ECONNREFUSED' ? 'connect: connection refused' : err.message;
      reject(new ApiError(500, '', `Get ${JSON.stringify(url)}: dial tcp ${hostPort}: ${why}`));
    });
    res.once('close', () => out.destroy());
  });
  if (upstream.statusCode! < 200 || upstream.statusCode! > 206) {
    let body = '';
    for await (const chunk of upstream) if (body.length < MAX_ERROR_BODY) body += String(chunk);
    throw kubeletError(upstream.statusCode!, body.slice(0, MAX_ERROR_BODY), name);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  upstream.pipe(res);
  res.once('close', () => upstream.destroy());
  await new Promise<void>((resolve) => upstream.once('close', resolve));
}
