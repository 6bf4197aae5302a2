/** Options of {@link AuditIntegrityModule}. */
export interface AuditIntegrityOptions {
  /** Whole months of decisions to keep before the current month; 0 (the default) keeps them forever. */
  retentionMonths?: number;
  /** How often each replica tries the retention job. @default 86_400_000 (a day) */
  retentionIntervalMs?: number;
  /** Delay of the first try after start-up. @default 60_000 */
  retentionFirstRunMs?: number;
}
