// Which lost writes a crashed master's window covers: its slots only, the second before the crash,
// and for a master stopped and let run again the second after it woke; never what was acknowledged
// while it was stopped (another node acknowledged those, and losing them is a failure).
import { describe, expect, it } from 'vitest';
import type { Injected } from '../../chaos/faults.js';
import { inCrashWindow } from '../../chaos/run.js';

const AT = 100_000;
const write = (ackedAt: number, slot = 10) => ({ slot, sentAt: ackedAt - 2, ms: 2 });
const killed: Injected = { fault: 'kill-9-master', target: 'c0-0', at: AT, crashedMaster: ['0-5460'] };
const stopped: Injected = { ...killed, fault: 'sigstop-node', resumedAt: AT + 6000 };

describe('a crashed master window', () => {
  it('covers its slots in the second before a kill, and nothing after', () => {
    expect(inCrashWindow(write(AT - 999), killed)).toBe(true);
    expect(inCrashWindow(write(AT), killed)).toBe(true);
    expect(inCrashWindow(write(AT - 1001), killed)).toBe(false);
    expect(inCrashWindow(write(AT + 6003), killed)).toBe(false);
    expect(inCrashWindow(write(AT - 10, 6000), killed)).toBe(false);
  });

  it('covers the second after a stopped master woke, not the time it was stopped', () => {
    expect(inCrashWindow(write(AT - 500), stopped)).toBe(true);
    expect(inCrashWindow(write(AT + 6003), stopped)).toBe(true);
    expect(inCrashWindow(write(AT + 3000), stopped)).toBe(false);
    expect(inCrashWindow(write(AT + 7100), stopped)).toBe(false);
  });

  it('covers nothing when no master crashed', () => {
    expect(inCrashWindow(write(AT), { fault: 'kill-9-replica', target: 'c0-3', at: AT })).toBe(false);
  });
});
