/**
 * The state a store last read, with the version of the stored copy it was read from (a file's
 * identity, a ConfigMap's resourceVersion). The long-running mode reads the state at every pass:
 * while the stored copy has not moved, the parsed one is used again, instead of parsing (and
 * leaving to the garbage collector) megabytes of JSON each pass. A write keeps what it wrote,
 * with the version it made, so that the pass after a change does not read it back either.
 */
export class LastRead {
  private last: { version: string; data: unknown } | undefined;

  /** The data last read, if it was read from this version of the stored copy. */
  get(version: string): unknown {
    return this.last?.version === version ? this.last.data : undefined;
  }

  remember(version: string, data: unknown): void {
    this.last = { version, data };
  }

  forget(): void {
    this.last = undefined;
  }
}
