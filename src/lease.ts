import { hostname } from 'node:os';
import type { V1Lease } from '@kubernetes/client-node';
import { resourcePath, resources, type Api } from './api.js';
import { statusOf } from './errors.js';

export interface LeaseOptions {
  name: string;
  namespace: string;
  durationSeconds: number;
  identity: string;
}

/** A Lease spec as JSON carries it: times are MicroTime strings. */
interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = Omit<V1Lease, 'spec'> & { spec?: LeaseSpec };

/** Kubernetes' MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(at: Date): string {
  return at.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The outcome of trying to take the Lease. */
export type Acquired =
  | { held: true }
  | {
      held: false;
      holder: string;
      expiresAt: Date;
      /** The holder's clock is ahead: its Lease is judged by how long it has not moved. */
      skewed?: boolean;
    };

/** How far ahead of ours a holder's clock may run before its renewTime is not believed. */
const clockTolerance = 5_000;

/** When a Lease lapses if its holder does not renew it. */
function expiry(spec: LeaseSpec): Date {
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
  private validUntil = 0;
  /** The other holder's record as last seen, and when it was first seen so (our clock). */
  private observed: { resourceVersion: string; since: number } | undefined;
  /** Acquisitions and the release run one at a time: a renewal never races the pass's own. */
  private turn: Promise<unknown> = Promise.resolve();
  /**
   * When the Lease call now running gives up (epoch ms): a third of the Lease's duration after it
   * began, the period of renewals. A renewal stuck on a silent network would otherwise hold the
   * next pass, which waits its turn, for as long as the client's time-outs and retries last.
   */
  private callDeadline: number | undefined;

  constructor(
    private readonly api: Api,
    readonly options: LeaseOptions,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private path(named = true): string {
    const { namespace, name } = this.options;
    return resourcePath(resources.leases, namespace, named ? name : undefined);
  }

  private async read(): Promise<Lease | undefined> {
    try {
      return await this.api.request<Lease>({ path: this.path(), deadline: this.callDeadline });
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Writes carry the resourceVersion they read: sending one again is safe. */
  private replace(body: Lease): Promise<Lease> {
    const path = this.path();
    return this.api.request<Lease>({
      method: 'PUT',
      path,
      body,
      idempotent: true,
      deadline: this.callDeadline,
    });
  }

  /** Whether this instance may act now: it holds the Lease with time to spare. */
  holds(): boolean {
    return this.now().getTime() < this.validUntil;
  }

  /** Takes the Lease when it is free, expired or already ours; renews it in the last case. */
  acquire(): Promise<Acquired> {
    return this.exclusive(() => this.tryAcquire());
  }

  /** Gives the Lease up, if it is still ours, so that the next instance need not wait. */
  release(): Promise<void> {
    return this.exclusive(() => this.tryRelease());
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const bounded = (): Promise<T> => {
      this.callDeadline = Date.now() + Math.max(1000, (this.options.durationSeconds * 1000) / 3);
      return work();
    };
    const run = this.turn.then(bounded, bounded);
    this.turn = run.catch(() => undefined);
    return run;
  }

  private async tryAcquire(): Promise<Acquired> {
    const { identity } = this.options;
    const lease = await this.read();
    if (!lease) return this.create();
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const { expiresAt, skewed } = this.judge(lease);
    if (holder && holder !== identity && expiresAt > this.now())
      return { held: false, holder, expiresAt, skewed };
    lease.spec = this.claim(spec);
    return this.write(lease, holder, expiresAt);
  }

  /**
   * When another holder's Lease lapses. Its renewTime is believed unless it lies ahead of our
   * clock by more than the tolerance (a holder whose clock runs ahead would otherwise block every
   * other instance until then): then, as client-go does, the Lease lapses once it has not moved
   * for its duration as we observe it.
   */
  private judge(lease: Lease): { expiresAt: Date; skewed: boolean } {
    const now = this.now().getTime();
    const version = lease.metadata?.resourceVersion ?? '';
    if (this.observed?.resourceVersion !== version) {
      this.observed = { resourceVersion: version, since: now };
    }
    const claimed = expiry(lease.spec ?? {});
    const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (claimed.getTime() <= now + duration + clockTolerance)
      return { expiresAt: claimed, skewed: false };
    return { expiresAt: new Date(this.observed.since + duration), skewed: true };
  }

  /** The spec that makes this instance the holder, renewed now. */
  private claim(spec: LeaseSpec): LeaseSpec {
    const now = microTime(this.now());
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

  private async tryRelease(): Promise<void> {
    this.validUntil = 0;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity !== this.options.identity) return;
      const { leaseDurationSeconds, leaseTransitions } = lease.spec;
      lease.spec = { leaseDurationSeconds, leaseTransitions };
      await this.replace(lease);
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }

  private async create(): Promise<Acquired> {
    const { name, namespace, identity, durationSeconds } = this.options;
    const at = this.now();
    const now = microTime(at);
    const body: Lease = {
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
      await this.api.request({
        method: 'POST',
        path: this.path(false),
        body,
        deadline: this.callDeadline,
      });
      this.markHeld(at);
      return { held: true };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      return this.tryAcquire(); // created by another instance just now: look again
    }
  }

  private async write(lease: Lease, holder: string, expiresAt: Date): Promise<Acquired> {
    try {
      await this.replace(lease);
      this.markHeld(new Date(lease.spec?.renewTime ?? this.now()));
      return { held: true };
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      return this.afterConflict(lease.spec?.renewTime, holder, expiresAt);
    }
  }

  /** A conflict is also what a repeated write meets when its first try went through. */
  private async afterConflict(
    wrote: string | undefined,
    holder: string,
    expiresAt: Date,
  ): Promise<Acquired> {
    const spec = (await this.read())?.spec;
    if (wrote && spec?.holderIdentity === this.options.identity && spec.renewTime === wrote) {
      this.markHeld(new Date(wrote));
      return { held: true };
    }
    this.validUntil = 0;
    return { held: false, holder: spec?.holderIdentity || holder || 'another instance', expiresAt };
  }

  private markHeld(renewedAt: Date): void {
    // Stop trusting the Lease a fifth of its duration before it could expire elsewhere.
    this.validUntil = renewedAt.getTime() + this.options.durationSeconds * 800;
  }
}
