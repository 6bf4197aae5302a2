/** Options of {@link DatabaseModule}; the app maps its configuration into them. */
export interface DatabaseModuleOptions {
  /** PostgreSQL connection URL. */
  url: string;
  /** Size of the connection pool. @default 20 */
  poolMax: number;
  /** How long a query may wait for a free pooled connection before failing. */
  acquireTimeoutMs: number;
  /** Server-side limit on any one statement. */
  statementTimeoutMs: number;
  /** How long start-up keeps retrying an unreachable database before it gives up. */
  startupTimeoutMs: number;
  /** Shown in `pg_stat_activity`. */
  applicationName: string;
  /** Apply pending migrations at start-up. @default true */
  migrate?: boolean;
}
