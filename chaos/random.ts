// The run's one source of chance: which fault, which target, and when all come from the seed, so a
// run is replayed by giving its seed again.
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface Random {
  int(from: number, to: number): number;
  pick<T>(items: readonly T[]): T;
}

export function seeded(seed: number): Random {
  const rng = xoroshiro128plus(seed);
  const int = (from: number, to: number) => uniformInt(rng, from, to);
  return {
    int,
    pick(items) {
      if (items.length === 0) throw new Error('nothing to pick from');
      return items[int(0, items.length - 1)]!;
    },
  };
}
