// How many inputs each property draws: a few hundred per CI run, FUZZ_RUNS=<n> for a long run.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export function runs(ci: number): number {
  const long = Number(process.env['FUZZ_RUNS']);
  return Number.isInteger(long) && long > 0 ? long : ci;
}

/** Counts what reaches it and how often a property ran, so a long run can report its figures. */
export class Tally {
  generated = 0;
  report(name: string): void {
    if (process.env['FUZZ_RUNS']) console.log(`fuzz ${name}: ${this.generated} inputs`);
  }
}

/** An HTTP sink standing in for the Broker: every event that reaches it is counted. */
export async function countingSink(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.statusCode = 202;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/redis-operator/default`,
    received: () => received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
