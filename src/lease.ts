import { hostname } from 'node:os';
import {
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
  type V1LeaseSpec,
} from '@kubernetes/client-node';
import { statusOf } from './kube.js';

export interface LeaseOptions {
  name: string;
  namespace: string;
  durationSeconds: number;
  identity: string;
}

/** The outcome of trying to take the Lease. */
export type Acquired = { held: true } | { held: false; holder: string; expiresAt: Date };

/** When a Lease lapses if its holder does not renew it. */
function expiry(spec: V1LeaseSpec): Date {
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
  return new Date(renewed + (spec.leaseDurationSeconds ?? 0) * 1000);
}

/** Who this instance is: its pod's name, else host and process id. */
export function leaseIdentity(env = process.env): string {
  return env.POD_NAME ?? `${hostname()}-${process.pid}`;
}

/**
 * A `coordination.k8s.io/v1` Lease, so that only one instance acts. Every write carries the
 * resourceVersion it read, so two instances racing for an expired Lease cannot both win. A holder
 * trusts its Lease only until a safety margin before it could expire (`heldUntil`).
 */
export class LeaseLock {
  private readonly api: CoordinationV1Api;
  private validUntil = 0;

  constructor(
    kc: KubeConfig,
    readonly options: LeaseOptions,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  /** Whether this instance may act now: it holds the Lease with time to spare. */
  holds(): boolean {
    return this.now().getTime() < this.validUntil;
  }

  /** Takes the Lease when it is free, expired or already ours; renews it in the last case. */
  async acquire(): Promise<Acquired> {
    const { name, namespace, identity } = this.options;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      return this.create();
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const expiresAt = expiry(spec);
    if (holder && holder !== identity && expiresAt > this.now())
      return { held: false, holder, expiresAt };
    lease.spec = this.claim(spec);
    return this.write(lease, holder, expiresAt);
  }

  /** The spec that makes this instance the holder, renewed now. */
  private claim(spec: V1LeaseSpec): V1LeaseSpec {
    const now = new V1MicroTime(this.now().getTime());
    const holder = spec.holderIdentity ?? '';
    const taken = holder !== this.options.identity;
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.options.durationSeconds,
      renewTime: now,
      acquireTime: taken ? now : spec.acquireTime,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (taken && holder ? 1 : 0),
    };
  }

  /** Gives the Lease up, if it is still ours, so that the next instance need not wait. */
  async release(): Promise<void> {
    this.validUntil = 0;
    const { name, namespace, identity } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const { leaseDurationSeconds, leaseTransitions } = lease.spec;
      lease.spec = { leaseDurationSeconds, leaseTransitions };
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }

  private async create(): Promise<Acquired> {
    const { name, namespace, identity, durationSeconds } = this.options;
    const now = new V1MicroTime(this.now().getTime());
    const body: V1Lease = {
      metadata: { name, namespace },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
    try {
      await this.api.createNamespacedLease({ namespace, body });
      this.markHeld(now);
      return { held: true };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      return this.acquire(); // created by another instance just now: look again
    }
  }

  private async write(lease: V1Lease, holder: string, expiresAt: Date): Promise<Acquired> {
    const { name, namespace } = this.options;
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      this.markHeld(lease.spec?.renewTime ?? this.now());
      return { held: true };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      this.validUntil = 0;
      return { held: false, holder: holder || 'another instance', expiresAt };
    }
  }

  private markHeld(renewedAt: Date): void {
    // Stop trusting the Lease a fifth of its duration before it could expire elsewhere.
    this.validUntil = renewedAt.getTime() + this.options.durationSeconds * 800;
  }
}
