// The Secret holding the passwords of the operator's and the exporter's ACL users of one cluster
// (shared/redis/users.ts). reconcile makes it, owned by the RedisCluster, before the first Pod;
// Pods read it as env, reconcile and reshard log in with it. A person never edits it: rotating
// spec.passwordSecret does not touch it, which is what lets the operator drive that rotation.
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { PoolOptions } from '../redis/connection.js';
import { EXPORTER_USER, OPERATOR_USER } from '../redis/users.js';
import { isNotFound, type Kube } from './client.js';
import { readPassword } from './nodes.js';
import { clusterLabels } from '../api/labels.js';

export const usersSecretName = (cluster: string): string => `${cluster}-operator-users`;

/** Keys of the Secret: the user names. */
export const USER_KEYS = [OPERATOR_USER, EXPORTER_USER] as const;

export type UserPasswords = Record<(typeof USER_KEYS)[number], string>;

const decode = (secret: V1Secret, key: string): string | undefined => {
  const encoded = secret.data?.[key];
  return encoded !== undefined ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
};

const newPassword = (): string => randomBytes(24).toString('hex');

/** The passwords, when the Secret exists and holds both. */
export async function readUserPasswords(kube: Kube, namespace: string, cluster: string): Promise<UserPasswords | undefined> {
  let secret: V1Secret;
  try {
    secret = await kube.core.readNamespacedSecret({ name: usersSecretName(cluster), namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  const operator = decode(secret, OPERATOR_USER);
  const exporter = decode(secret, EXPORTER_USER);
  return operator && exporter ? { [OPERATOR_USER]: operator, [EXPORTER_USER]: exporter } : undefined;
}

/** Creates the Secret, or fills in a key someone removed; the passwords it has are kept. */
export async function ensureUserPasswords(kube: Kube, namespace: string, cluster: string, owner: V1OwnerReference): Promise<UserPasswords> {
  const name = usersSecretName(cluster);
  let stored: V1Secret | undefined;
  try {
    stored = await kube.core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const passwords = Object.fromEntries(USER_KEYS.map((k) => [k, (stored && decode(stored, k)) || newPassword()])) as UserPasswords;
  const data = Object.fromEntries(USER_KEYS.map((k) => [k, Buffer.from(passwords[k]).toString('base64')]));
  if (!stored) {
    await kube.core.createNamespacedSecret({
      namespace,
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name, namespace, labels: clusterLabels(cluster), ownerReferences: [owner] },
        data,
      },
    });
  } else if (USER_KEYS.some((k) => !decode(stored, k))) {
    await kube.core.replaceNamespacedSecret({ name, namespace, body: { ...stored, data: { ...stored.data, ...data } } });
  }
  return passwords;
}

/**
 * How a pool logs in: as the operator's user when the cluster has one (it has a password), falling
 * back to `default` with spec.passwordSecret's password on a node started before the user existed.
 */
export function operatorLogin(
  users: UserPasswords | undefined,
  defaultPassword: string | undefined,
): Pick<PoolOptions, 'password' | 'username' | 'fallback'> {
  if (users)
    return {
      username: OPERATOR_USER,
      password: users[OPERATOR_USER],
      ...(defaultPassword !== undefined ? { fallback: { password: defaultPassword } } : {}),
    };
  return defaultPassword !== undefined ? { password: defaultPassword } : {};
}

/** The login to `cluster`'s nodes from its Secrets: spec.passwordSecret's password and, with it, the users Secret. */
export async function readOperatorLogin(
  kube: Kube,
  namespace: string,
  cluster: string,
  passwordSecret: Parameters<typeof readPassword>[2],
): Promise<Pick<PoolOptions, 'password' | 'username' | 'fallback'>> {
  const password = await readPassword(kube, namespace, passwordSecret);
  return operatorLogin(passwordSecret ? await readUserPasswords(kube, namespace, cluster) : undefined, password);
}
