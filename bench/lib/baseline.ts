// A build of another commit to measure beside this tree: the commit checked out in a temporary
// git worktree that uses this tree's node_modules, so both run with the same dependencies.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface BaselineTree {
  /** The commit checked out, abbreviated. */
  commit: string;
  root: string;
  remove(): void;
}

function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Checks `ref` out (detached) beside `repoRoot`; remove() deletes the worktree again. */
export function checkoutBaseline(repoRoot: string, ref: string): BaselineTree {
  const commit = git(repoRoot, ['rev-parse', '--short', `${ref}^{commit}`]);
  const root = path.join(mkdtempSync(path.join(tmpdir(), 'bench-baseline-')), 'tree');
  git(repoRoot, ['worktree', 'add', '--detach', root, commit]);
  symlinkSync(realpathSync(path.join(repoRoot, 'node_modules')), path.join(root, 'node_modules'), 'dir');
  return {
    commit,
    root,
    remove() {
      try {
        git(repoRoot, ['worktree', 'remove', '--force', root]);
      } finally {
        rmSync(path.dirname(root), { recursive: true, force: true });
        git(repoRoot, ['worktree', 'prune']);
      }
    },
  };
}
