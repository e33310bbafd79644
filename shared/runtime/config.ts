// Configuration from the environment, validated at start-up: a bad variable stops the function
// with a message naming it, instead of a failure on the first event.
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** An integer variable; `what` reads as "must be <what>". */
export function intVar(min: number, max: number, what = 'a number') {
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, `must be ${what}`)
    .transform(Number)
    .pipe(z.int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The variables every function reads. Extend it for a function's own. */
export const baseConfigSchema = z.object({
  // 0 picks a free port (tests); Knative always sets one.
  PORT: intVar(0, 65535, 'a port number').default(8080),
  K_SERVICE: z.string().optional(),
  K_REVISION: z.string().optional(),
  K_SINK: z.url('must be a URL').optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`).default('info'),
  MAX_BODY_BYTES: intVar(1, 64 * 1024 * 1024, 'a number of bytes').default(1024 * 1024),
});
export type BaseConfig = z.output<typeof baseConfigSchema>;

/**
 * Validates `env` against `schema`. An empty variable counts as unset (manifests often carry
 * `value: ""`). Throws ConfigError naming each bad variable and, except for secrets, its value.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined> = process.env): z.output<S> {
  const present: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') present[key] = value;
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = issue.path.map(String).join('.') || '(environment)';
    const value = present[variable];
    const secret = /PASSWORD|TOKEN|SECRET|KEY/i.test(variable);
    const got = value === undefined ? ' (not set)' : secret ? '' : ` (got ${JSON.stringify(value)})`;
    const message = value === undefined && /received undefined$/.test(issue.message) ? 'is required' : issue.message;
    return `${variable} ${message}${got}`;
  });
  throw new ConfigError(problems);
}
