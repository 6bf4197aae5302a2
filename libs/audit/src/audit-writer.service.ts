import { histogram } from '@app/observability';
import { performance } from 'node:perf_hooks';
import { Histogram, Registry } from 'prom-client';
import { Decision, DecisionRecorderPort } from '@app/decisions';
import { BeforeApplicationShutdown, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { decisionRowsParameter, INSERT_DECISIONS, insertDecisions } from './decision-insert';

/** Tuning of the group-committing {@link AuditWriter}. */
export interface AuditWriterOptions {
  /**
   * Decisions per INSERT; a flush starts as soon as this many wait. One caller's decisions are never split.
   * @default 1000
   */
  maxBatchSize?: number;
  /**
   * Longest wait for more callers before a partial batch is written. 0: written on the next turn of the event loop,
   * so that callers of the same turn share it; under load, batches still grow while the flush slots are busy.
   * @default 0
   */
  maxDelayMs?: number;
  /**
   * INSERT statements in flight at once; callers arriving meanwhile queue up and form bigger batches. Every insert
   * holds the audit chain's head locked until it commits, so a second statement in flight only waits on the first.
   * @default 1
   */
  maxConcurrentFlushes?: number;
  /** Where `audit_writer_batch_size` and `audit_writer_commit_seconds` are registered; none when absent. */
  registry?: Registry;
}

/** Counters of the writer, for metrics and tests. */
export interface AuditWriterStats {
  statements: number;
  rows: number;
  failedStatements: number;
  /** Sizes of the most recent statements (up to 1,000), oldest first. */
  recentBatchSizes: number[];
}

/** The writer no longer takes decisions: the application is shutting down. */
export class AuditWriterClosedError extends Error {
  readonly code = 'AUDIT_WRITER_CLOSED';

  constructor() {
    super('the audit writer is closed');
    this.name = 'AuditWriterClosedError';
  }
}

interface Entry {
  decisions: readonly Decision[];
  resolve: () => void;
  reject: (error: Error) => void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A decision that the table would refuse, so that it fails its own caller instead of a whole shared batch. */
function invalidField(decision: Decision): string | null {
  if (!UUID.test(decision.id)) {
    return 'id';
  }
  if (decision.clearanceId !== null && !UUID.test(decision.clearanceId)) {
    return 'clearanceId';
  }
  if (decision.flow !== 'scheduled' && decision.flow !== 'triggered') {
    return 'flow';
  }
  if (decision.mode !== 'enforce' && decision.mode !== 'shadow') {
    return 'mode';
  }
  if (typeof decision.customerId !== 'string' || Number.isNaN(Date.parse(decision.decidedAt))) {
    return typeof decision.customerId !== 'string' ? 'customerId' : 'decidedAt';
  }

  return null;
}

/**
 * Commits decisions to the append-only `decisions` table by group commit: callers that arrive together share one
 * `INSERT ... SELECT FROM jsonb_to_recordset` statement, flushed when `maxBatchSize` decisions wait or after
 * `maxDelayMs`. Each caller's promise resolves only after the statement holding its decisions has committed, and
 * rejects if it failed. A caller's decisions always travel in one statement, so they commit or fail together.
 */
export class AuditWriter extends DecisionRecorderPort implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(AuditWriter.name);
  private readonly maxBatchSize: number;
  private readonly metrics?: { batchSize: Histogram; commitSeconds: Histogram<'outcome'> };
  private readonly maxDelayMs: number;
  private readonly maxConcurrentFlushes: number;
  private queue: Entry[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly counters: AuditWriterStats = { statements: 0, rows: 0, failedStatements: 0, recentBatchSizes: [] };

  constructor(
    private readonly dataSource: DataSource,
    options: AuditWriterOptions = {},
  ) {
    super();
    this.maxBatchSize = options.maxBatchSize ?? 1000;
    this.metrics = options.registry && {
      batchSize: histogram(options.registry, {
        name: 'audit_writer_batch_size',
        help: 'Decisions committed per statement by the audit writer',
        buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      }),
      commitSeconds: histogram(options.registry, {
        name: 'audit_writer_commit_seconds',
        help: 'Time to commit one statement of decisions, by outcome',
        labelNames: ['outcome'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      }),
    };
    this.maxDelayMs = options.maxDelayMs ?? 0;
    this.maxConcurrentFlushes = options.maxConcurrentFlushes ?? 1;
  }

  record(decisions: readonly Decision[]): Promise<void> {
    if (this.closed) {
      return Promise.reject(new AuditWriterClosedError());
    }
    if (decisions.length === 0) {
      return Promise.resolve();
    }
    for (const decision of decisions) {
      const field = invalidField(decision);
      if (field !== null) {
        return Promise.reject(new TypeError(`decision ${String(decision.id)} has an invalid ${field}`));
      }
    }

    const committed = new Promise<void>((resolve, reject) => {
      this.queue.push({ decisions, resolve, reject });
    });
    this.queuedRows += decisions.length;
    if (this.queuedRows >= this.maxBatchSize) {
      this.pump();
    } else if (this.timer === undefined && this.immediate === undefined) {
      if (this.maxDelayMs > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, this.maxDelayMs);
      } else {
        this.immediate = setImmediate(() => {
          this.immediate = undefined;
          this.pump();
        });
      }
    }

    return committed;
  }

  /** Writes everything queued now and resolves once nothing is queued or in flight. */
  async flush(): Promise<void> {
    this.clearTimer();
    this.pump();
    if (this.queue.length === 0 && this.inFlight === 0) {
      return;
    }
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking decisions, then writes and waits for everything already taken. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  get stats(): AuditWriterStats {
    return { ...this.counters, recentBatchSizes: [...this.counters.recentBatchSizes] };
  }

  /** Shutdown, first step: write what waits, while in-flight requests may still add decisions. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  /** Shutdown, last step (the HTTP server is closed by now): refuse new decisions and drain. */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.immediate !== undefined) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
  }

  /** Starts statements while there is queued work and a free slot. */
  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxConcurrentFlushes) {
      const batch: Entry[] = [];
      let rows = 0;
      while (
        this.queue.length > 0 &&
        (batch.length === 0 || rows + this.queue[0].decisions.length <= this.maxBatchSize)
      ) {
        const entry = this.queue.shift() as Entry;
        batch.push(entry);
        rows += entry.decisions.length;
      }
      this.queuedRows -= rows;
      this.inFlight++;
      void this.write(batch, rows).finally(() => {
        this.inFlight--;
        this.afterWrite();
      });
    }
    if (this.queue.length === 0) {
      this.clearTimer();
    }
  }

  private afterWrite(): void {
    if (this.queue.length > 0) {
      // Whatever queued while the slots were busy goes out at once: waiting longer would only add latency.
      this.pump();
    }
    if (this.queue.length === 0 && this.inFlight === 0) {
      this.idleWaiters.splice(0).forEach((resolve) => resolve());
    }
  }

  private async write(batch: Entry[], rows: number): Promise<void> {
    const started = performance.now();
    try {
      await this.insert(batch.flatMap((entry) => entry.decisions));
      this.noteStatement(rows);
      this.metrics?.batchSize.observe(rows);
      this.metrics?.commitSeconds.observe({ outcome: 'committed' }, (performance.now() - started) / 1000);
      batch.forEach((entry) => entry.resolve());
    } catch (error) {
      this.counters.failedStatements++;
      if (batch.length > 1 && isDataError(error)) {
        // One caller's bad data must not fail the others: retry each caller alone.
        await Promise.all(batch.map((entry) => this.write([entry], entry.decisions.length)));

        return;
      }
      const failure = error instanceof Error ? error : new Error(String(error));
      this.metrics?.commitSeconds.observe({ outcome: 'failed' }, (performance.now() - started) / 1000);
      this.logger.error(`could not commit ${rows} decision(s): ${failure.message}`);
      batch.forEach((entry) => entry.reject(failure));
    }
  }

  /**
   * A named prepared statement on the pg pool when there is one: each connection parses and plans the INSERT once,
   * and TypeORM's query runner is skipped.
   */
  private async insert(decisions: readonly Decision[]): Promise<void> {
    const pool = (this.dataSource.driver as { master?: unknown }).master as Pool | undefined;
    if (pool === undefined || typeof pool.query !== 'function') {
      await insertDecisions(this.dataSource, decisions);

      return;
    }
    await pool.query({
      name: 'audit_insert_decisions',
      text: INSERT_DECISIONS,
      values: [decisionRowsParameter(decisions)],
    });
  }

  private noteStatement(rows: number): void {
    this.counters.statements++;
    this.counters.rows += rows;
    this.counters.recentBatchSizes.push(rows);
    if (this.counters.recentBatchSizes.length > 1000) {
      this.counters.recentBatchSizes.shift();
    }
  }
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
function isDataError(error: unknown): boolean {
  const failure = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = failure?.driverError?.code ?? failure?.code;

  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
