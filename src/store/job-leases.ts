/**
 * Who polls which job. With one process every lease is granted; with replicas on Redis a lease
 * is a key with a TTL that its holder renews, so exactly one live replica polls each job and a dead
 * replica's jobs are taken over once its leases expire.
 */
export interface JobLeases {
  /**
   * True when other processes compete for leases (the poller then sweeps for orphaned jobs). False: one
   * process, whose `claim` grants every lease, so the poller follows a job it just submitted without claiming.
   */
  readonly shared: boolean;
  /** How long a lease lasts without renewal, in ms. */
  readonly ttlMs: number;
  /** Tries to take these jobs' leases; resolves with the ids now held by this process. */
  claim(jobIds: string[]): Promise<string[]>;
  /** Extends the leases still held; resolves with the ids still held (the others were lost). */
  renew(jobIds: string[]): Promise<string[]>;
  /** Gives leases back (shutdown, finished jobs) so another replica can take over at once. */
  release(jobIds: string[]): Promise<void>;
}

/** One process: every lease is granted and nothing is shared. */
export function createLocalLeases(): JobLeases {
  return {
    shared: false,
    ttlMs: Number.POSITIVE_INFINITY,
    claim: async (ids) => ids,
    renew: async (ids) => ids,
    release: async () => undefined,
  };
}
