// Running one probe against a Pod's process: exec on the host with the container's env, a TCP
// connect, or an HTTP GET. Each resolves to a verdict and never throws.
import { execFile } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { planExecProbe, type PathMapping } from './command.js';

export interface ProbeContext {
  podIP: string;
  container: V1Container;
  env: Record<string, string>;
  cwd: string;
  mappings: readonly PathMapping[];
  redisCliBinary: string;
}

export interface ProbeOutcome {
  ok: boolean;
  message?: string;
}

function resolvePort(port: number | string | undefined, container: V1Container): number {
  if (typeof port === 'number') return port;
  if (port !== undefined && /^\d+$/.test(port)) return Number(port);
  const named = container.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`probe port "${String(port)}" is not a number nor a named port of container ${container.name}`);
  return named.containerPort;
}

function runExec(command: string[], ctx: ProbeContext, timeoutMs: number): Promise<ProbeOutcome> {
  const { file, args } = planExecProbe(command, ctx.podIP, ctx.mappings, ctx.redisCliBinary);
  return new Promise((resolve) => {
    execFile(file, args, { env: ctx.env, cwd: ctx.cwd, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (!err) return resolve({ ok: true });
      const output = `${stdout}${stderr}`.trim().slice(0, 200);
      const killed = (err as { killed?: boolean }).killed;
      resolve({
        ok: false,
        message: killed ? `command timed out after ${timeoutMs} ms` : `exit code ${String(err.code)}${output ? `: ${output}` : ''}`,
      });
    });
  });
}

function runTcp(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (outcome: ProbeOutcome): void => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(timeoutMs, () => finish({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }));
    socket.once('connect', () => finish({ ok: true }));
    socket.once('error', (err) => finish({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

function runHttp(probe: NonNullable<V1Probe['httpGet']>, host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  const scheme = (probe.scheme ?? 'HTTP').toUpperCase();
  const client = scheme === 'HTTPS' ? https : http;
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*' };
  for (const h of probe.httpHeaders ?? []) headers[h.name] = h.value;
  return new Promise((resolve) => {
    const req = client.request(
      { host, port, path: probe.path ?? '/', method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    req.once('timeout', () => {
      req.destroy();
      resolve({ ok: false, message: `Get ${scheme.toLowerCase()}://${host}:${port}${probe.path ?? '/'}: timeout` });
    });
    req.once('error', (err) => resolve({ ok: false, message: err.message }));
    req.end();
  });
}

export async function runProbe(probe: V1Probe, ctx: ProbeContext, timeoutMs: number): Promise<ProbeOutcome> {
  try {
    if (probe.exec) return await runExec(probe.exec.command ?? [], ctx, timeoutMs);
    if (probe.tcpSocket)
      return await runTcp(probe.tcpSocket.host || ctx.podIP, resolvePort(probe.tcpSocket.port, ctx.container), timeoutMs);
    if (probe.httpGet)
      return await runHttp(probe.httpGet, probe.httpGet.host || ctx.podIP, resolvePort(probe.httpGet.port, ctx.container), timeoutMs);
    if (probe.grpc) return { ok: false, message: 'grpc probes are not supported by the local kubelet' };
    return { ok: false, message: 'probe has no handler (exec, tcpSocket or httpGet)' };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}
