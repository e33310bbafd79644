// The reshard function: `reshard.requested` (from reconcile) and its own `reshard.progressed`
// replies. Each delivery does one bounded chunk and replies with the next step, so a reshard of
// any size goes on through the Broker, and any delivery may be the one after a crash.
import { hostname } from 'node:os';
import { RESHARD_PROGRESSED, RESHARD_REQUESTED } from '../../shared/events/catalog.js';
import type { TypedEvent } from '../../shared/events/codec.js';
import { createEventRecorder, Kube } from '../../shared/kube/index.js';
import { ack, reply, retry, type HandlerContext, type HandlerResult, type Handlers } from '../../shared/runtime/host.js';
import type { MigrateOptions } from '../../shared/redis/executor/migrate/context.js';
import { DEFAULT_SETTINGS, runReshardChunk, type ReshardSettings } from './reshard.js';
import { errorMessage } from '../../shared/errors.js';

export interface ReshardOptions {
  kube?: Kube;
  settings?: Partial<ReshardSettings>;
  /** Lease holder identity; default `reshard/<host>/<pid>`. */
  holder?: string;
  migrate?: Partial<MigrateOptions>;
}

export function createReshardHandlers(opts: ReshardOptions = {}): Handlers {
  let kube = opts.kube;
  const settings: ReshardSettings = { ...DEFAULT_SETTINGS, ...opts.settings };
  const holder = opts.holder ?? `reshard/${hostname()}/${process.pid}`;

  const handle = async (
    event: TypedEvent<typeof RESHARD_REQUESTED> | TypedEvent<typeof RESHARD_PROGRESSED>,
    ctx: HandlerContext,
  ): Promise<HandlerResult> => {
    kube ??= new Kube();
    const ref = event.data.cluster;
    const step = event.type === RESHARD_PROGRESSED ? (event.data as { step: number }).step + 1 : 1;
    try {
      const result = await runReshardChunk(
        ref,
        { id: event.id, source: event.source, step },
        {
          kube,
          recorder: createEventRecorder(kube, 'redis-operator-reshard'),
          log: ctx.log,
          holder,
          source: ctx.source,
          settings,
          signal: ctx.shutdown,
          ...(opts.migrate ? { migrate: opts.migrate } : {}),
        },
      );
      switch (result.kind) {
        case 'gone':
        case 'paused':
          ctx.log.info(result.message);
          return ack();
        case 'busy':
          // Not ack: the holder may be reconcile, or a reshard instance that died mid-chunk whose
          // Lease has yet to expire; either way this delivery must come back to continue the work.
          return retry(result.message, 503);
        case 'retry':
          return retry(result.message, 503);
        case 'progressed':
          ctx.log.info({ step, slotsDone: result.slotsDone, slotsTotal: result.slotsTotal }, 'reshard progressed');
          return reply(result.event);
        case 'completed':
          ctx.log.info({ slotsMoved: result.slotsMoved, keysMoved: result.keysMoved }, 'reshard completed');
          return reply(result.event);
      }
    } catch (err) {
      ctx.log.error({ err: errorMessage(err) }, 'reshard chunk failed');
      return retry(`reshard of ${ref.namespace}/${ref.name} failed: ${errorMessage(err)}`, 500);
    }
  };

  return {
    [RESHARD_REQUESTED]: handle,
    [RESHARD_PROGRESSED]: handle,
  } as Handlers;
}
