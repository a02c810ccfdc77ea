import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';

/**
 * The admin kubeconfig of the control plane that `scripts/test-integration` started. Integration
 * tests never skip: without a control plane they fail and say how to get one.
 */
export function adminKubeConfig(): KubeConfig {
  const path = process.env.TEST_KUBECONFIG;
  if (!path) {
    throw new Error(
      'TEST_KUBECONFIG is not set: run integration tests with `npm run test:integration`, which starts the control plane',
    );
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** Creates a namespace of its own for one test and deletes it when the test ends. */
export async function testNamespace(t: TestContext, kc: KubeConfig, prefix = 't'): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  t.after(async () => {
    await core.deleteNamespace({ name }).catch(() => undefined);
  });
  // The controller-manager adds kube-root-ca.crt soon after: a pass that saw the namespace without
  // it would see it as a change later, which a test would take for its own.
  await eventually(`kube-root-ca.crt in ${name}`, async () => {
    const list = await core.listNamespacedConfigMap({ namespace: name });
    return list.items.some((c) => c.metadata?.name === 'kube-root-ca.crt') ? true : undefined;
  });
  return name;
}

/**
 * Polls `probe` until it returns a value other than undefined, and fails with `what` and the last
 * error after `timeoutMs`.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const reason = last instanceof Error ? `: ${last.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
}

/** A kubeconfig for the same cluster that authenticates with a ServiceAccount token. */
export function tokenKubeConfig(admin: KubeConfig, token: string): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: 'sa' }],
    currentContext: 'sa',
  });
  return kc;
}

/** Starts a short watch and resolves to its HTTP status: 200 when it ran, else the refusal code. */
export async function watchStatus(kc: KubeConfig, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    new Watch(kc)
      .watch(
        path,
        { timeoutSeconds: 1 },
        () => undefined,
        (err: (Error & { statusCode?: number }) | null) => {
          if (!err) resolve(200);
          else if (typeof err.statusCode === 'number') resolve(err.statusCode);
          else reject(err);
        },
      )
      .catch(reject);
  });
}

export interface PolicySpec {
  name: string;
  namespace: string;
  /** What it applies to, e.g. `{ apiGroups: ['apps'], resources: ['deployments'], operations: ['UPDATE'] }`. */
  rule: { apiGroups: string[]; resources: string[]; operations: string[] };
  /** CEL: what is allowed; anything else is refused with `message`. */
  expression: string;
  message: string;
  /** A dry-run request the policy refuses: tells when it is in force, and when it is gone. */
  accepted: () => Promise<boolean>;
}

/**
 * Makes the API server refuse requests in one namespace as an admission webhook might (a
 * ValidatingAdmissionPolicy and its binding). Returns what removes it and waits until it is gone;
 * the test removes it in any case when it ends.
 */
export async function admissionPolicy(
  t: TestContext,
  kc: KubeConfig,
  spec: PolicySpec,
): Promise<() => Promise<void>> {
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const match = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': spec.namespace } },
    resourceRules: [{ ...spec.rule, apiVersions: ['*'] }],
  };
  const validations = [{ expression: spec.expression, message: spec.message }];
  await admission.createValidatingAdmissionPolicy({
    body: {
      metadata: { name: spec.name },
      spec: { failurePolicy: 'Fail', matchConstraints: match, validations },
    },
  });
  await admission.createValidatingAdmissionPolicyBinding({
    body: {
      metadata: { name: spec.name },
      spec: { policyName: spec.name, validationActions: ['Deny'], matchResources: match },
    },
  });
  await eventually(`policy ${spec.name} in force`, async () =>
    (await spec.accepted()) ? undefined : true,
  );
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    await admission.deleteValidatingAdmissionPolicyBinding({ name: spec.name });
    await admission.deleteValidatingAdmissionPolicy({ name: spec.name });
  };
  // Whatever the test does, the policy goes (its namespace may be going already: no probe then).
  t.after(remove);
  return async () => {
    await remove();
    await eventually(`policy ${spec.name} gone`, async () =>
      (await spec.accepted()) ? true : undefined,
    );
  };
}
