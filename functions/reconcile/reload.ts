// Has each node re-read its certificate files (the kubelet has swapped them), then checks on a new
// connection that it serves the Secret's certificate before recording the Secret's hash on its Pod:
// a node whose files are not swapped yet keeps its old hash and is reloaded on a later pass. And
// switches the bus of a cluster turning TLS on or off, once every node serves both protocols.
import { connect } from 'node:tls';
import { ANNOTATION_TLS_HASH } from '../../shared/api/index.js';
import { errorMessage } from '../../shared/errors.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import type { Endpoint } from '../../shared/redis/types.js';
import { clientTls } from '../../shared/tls/secret.js';
import type { ActContext } from './act.js';
import type { Step } from './decide.js';
import { TLS_FILE_SETTINGS } from './tls.js';

/** The SHA-256 fingerprint of the certificate a new TLS connection to the node is given. */
function servedFingerprint(ep: Endpoint, ca: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ep.ip, port: ep.port, ...clientTls(ca) }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

async function reloadNode(ctx: ActContext, ep: Endpoint): Promise<void> {
  // The paths as the node has them: set again unchanged, Redis reads the files anew.
  const reply = (await ctx.pool.call(ep, 'CONFIG', 'GET', ...TLS_FILE_SETTINGS)) as string[];
  const args: string[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) args.push(reply[i]!, reply[i + 1]!);
  await ctx.pool.call(ep, 'CONFIG', 'SET', ...args);
}

export async function reloadCertificates(ctx: ActContext, step: Extract<Step, { kind: 'reload-tls' }>): Promise<number> {
  const { reload } = step;
  let done = 0;
  await Promise.all(
    step.nodes.map(async ({ pod, endpoint }) => {
      try {
        await reloadNode(ctx, endpoint);
        const served = await servedFingerprint(endpoint, reload.ca);
        if (served !== reload.fingerprint) {
          ctx.log.info({ node: endpointKey(endpoint) }, 'certificate files not refreshed on the node yet; reloading again later');
          return;
        }
        await ctx.kube.annotatePod(ctx.ref.namespace, pod, { [ANNOTATION_TLS_HASH]: reload.hash });
        done++;
      } catch (err) {
        ctx.log.warn({ node: endpointKey(endpoint), err: errorMessage(err) }, 'certificate reload failed; tried again later');
      }
    }),
  );
  if (done > 0) await ctx.record('CertificateReloaded', `${done} node(s) loaded the changed TLS Secret without a restart`);
  return done;
}

/**
 * Replication first, so a replica that reconnects meanwhile dials its master as the bus will be;
 * then the bus. Open links keep working; a link dialled between a switched and an unswitched node
 * fails and is dialled again. A node that refused is swept again on the next pass.
 */
export async function sweepTlsBus(ctx: ActContext, step: Extract<Step, { kind: 'sweep-tls' }>): Promise<void> {
  const value = step.tls ? 'yes' : 'no';
  let refused = 0;
  for (const setting of ['tls-replication', 'tls-cluster']) {
    await Promise.all(
      step.endpoints.map((ep) =>
        ctx.pool.call(ep, 'CONFIG', 'SET', setting, value).catch((err: unknown) => {
          refused++;
          ctx.log.warn({ node: endpointKey(ep), setting, err: errorMessage(err) }, 'bus switch refused; swept again later');
        }),
      ),
    );
  }
  if (refused === 0)
    await ctx.record(
      'TLSBusSwitched',
      `tls-cluster and tls-replication ${value} on ${step.endpoints.length} node(s); the roll to the final layout follows`,
    );
}
