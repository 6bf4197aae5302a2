/** Options of {@link ScheduledClearanceModule}; the app maps its configuration into them. */
export interface ScheduledClearanceOptions {
  /** Secret that Optimove's listener calls carry as `?token=`; unset means every call is refused. */
  listenerToken: string | undefined;
  /** IANA zone of Optimove's `YYYY-MM-DD HH:MM:SS` times. */
  timeZone: string;
  /** Every approval reaches Optimove at least this long before `ClearanceRequiredBy`. */
  safetyMarginMs: number;
  /**
   * Time kept between the decision cut-off and the report deadline, for the last reports to go out.
   * @default 15000
   */
  reportReserveMs?: number;
  /** Customers per slice, the unit of work a replica claims. @default 1000 */
  sliceSize?: number;
  /** Promo activations in flight for clearances in this replica. @default 32 */
  promoConcurrency?: number;
  /** Slices decided at once by this replica. @default 4 */
  sliceConcurrency?: number;
  /**
   * Lease of a slice or a fetch; renewed while the work goes on, taken over by another replica once expired.
   * @default 30000
   */
  leaseMs?: number;
  /** How often an idle worker looks for work. @default 500 */
  pollIntervalMs?: number;
  /**
   * A decided slice's approvals wait at most this long before they are reported (sooner when a full call of 10,000
   * is ready). @default 5000
   */
  reportMaxAgeMs?: number;
  /** Run the workers in this process; off for replicas that only serve HTTP. @default true */
  workersEnabled?: boolean;
  /** Identifies this replica in leases. @default hostname, pid and a random suffix */
  workerId?: string;
}
