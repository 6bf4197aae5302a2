import { defaultFaults, FastAnswer, isRecord, mergeFaults, StandInServer } from '../common/stand-in.server';
import { generateProfile, GeneratedProfile, Profile, PROFILE_DISTRIBUTION, ProfileOutcome } from './profile.generator';

export interface ProfileStandInOptions {
  seed: number;
  token?: string;
}

/** The contract caps a batch at 1,000 customers. */
const MAX_BATCH = 1_000;
const OUTCOMES = new Set<string>(PROFILE_DISTRIBUTION.map(([outcome]) => outcome));

interface IdParams {
  id: string;
}

/** The customer profile source: deterministic profiles from (seed, customerId), with per-customer overrides. */
export class ProfileStandIn {
  readonly server: StandInServer;
  /** An override: an exact profile, or null for a customer made unknown. */
  private readonly overrides = new Map<string, Profile | null>();
  private calls = { batch: 0, single: 0, profilesServed: 0 };

  constructor(private readonly options: ProfileStandInOptions) {
    this.server = new StandInServer({
      errorBody: (_status, message) => ({ error: message }),
      latencyInHook: true,
      token: options.token,
    });
    this.installApi();
    this.installControl();
  }

  lookup(customerId: string): Profile | undefined {
    const override = this.overrides.get(customerId);
    if (override !== undefined) {
      return override ?? undefined;
    }

    return generateProfile(this.options.seed, customerId).profile;
  }

  private installApi(): void {
    const app = this.server.app;

    app.post('/profiles/batch', async (req, reply) => {
      const answer = this.batch(req.body);

      return reply.code(answer.status).send(answer.body);
    });
    this.server.addFastRoute('POST', '/profiles/batch', (body) => this.batch(body));

    app.get<{ Params: IdParams }>('/profiles/:id', async (req, reply) => {
      this.calls.single++;
      const profile = this.lookup(req.params.id);
      if (!profile) {
        return reply.code(404).send({ error: 'unknown customer' });
      }
      this.calls.profilesServed++;

      return profile;
    });
  }

  private batch(body: unknown): FastAnswer {
    this.calls.batch++;
    const ids = isRecord(body) ? body.customerIds : undefined;
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
      return { status: 400, body: { error: 'customerIds must be an array of strings' } };
    }
    if (ids.length > MAX_BATCH) {
      return { status: 400, body: { error: `customerIds may hold at most ${MAX_BATCH} customers` } };
    }
    const profiles: Profile[] = [];
    const seen = new Set<string>();
    for (const id of ids as string[]) {
      if (seen.has(id)) {
        continue;
      }
      seen.add(id);
      const profile = this.lookup(id);
      if (profile) {
        profiles.push(profile);
      }
    }
    this.calls.profilesServed += profiles.length;

    return { status: 200, body: { profiles } };
  }

  private describe(customerId: string): Record<string, unknown> {
    const override = this.overrides.get(customerId);
    if (override !== undefined) {
      return { customerId, source: override ? 'override' : 'deleted', outcome: null, profile: override };
    }
    const generated: GeneratedProfile = generateProfile(this.options.seed, customerId);

    return {
      customerId,
      source: 'generated',
      outcome: generated.outcome,
      missingField: generated.missingField ?? null,
      profile: generated.profile ?? null,
    };
  }

  private installControl(): void {
    const app = this.server.app;

    app.get('/control/profiles/distribution', () => ({
      seed: this.options.seed,
      distribution: Object.fromEntries(PROFILE_DISTRIBUTION),
    }));

    // Finds customers of the pattern `${prefix}${n}` with a given outcome, for tests that need one of each.
    app.get<{ Querystring: Record<string, string> }>('/control/profiles', async (req, reply) => {
      const outcome = req.query.outcome;
      const prefix = req.query.prefix ?? 'C';
      const count = Math.min(Number(req.query.count ?? 10) || 10, 10_000);
      const from = Math.max(Number(req.query.from ?? 1) || 1, 1);
      if (outcome !== undefined && !OUTCOMES.has(outcome)) {
        return reply.code(400).send({ error: `outcome must be one of ${[...OUTCOMES].join(', ')}` });
      }
      const customerIds: string[] = [];
      for (let n = from; customerIds.length < count && n < from + count * 1_000; n++) {
        const id = `${prefix}${n}`;
        if (this.overrides.has(id)) {
          continue;
        }
        if (outcome === undefined || generateProfile(this.options.seed, id).outcome === (outcome as ProfileOutcome)) {
          customerIds.push(id);
        }
      }

      return { outcome: outcome ?? null, customerIds };
    });

    app.get<{ Params: IdParams }>('/control/profiles/:id', (req) => this.describe(req.params.id));

    app.put<{ Params: IdParams }>('/control/profiles/:id', async (req, reply) => {
      if (!isRecord(req.body)) {
        return reply.code(400).send({ error: 'body must be a profile object' });
      }
      const profile = { ...req.body, customerId: req.params.id } as Profile;
      this.overrides.set(req.params.id, profile);

      return this.describe(req.params.id);
    });

    app.delete<{ Params: IdParams }>('/control/profiles/:id', (req) => {
      this.overrides.set(req.params.id, null);

      return this.describe(req.params.id);
    });

    app.get('/control/state', () => ({
      seed: this.options.seed,
      overrides: this.overrides.size,
      calls: this.calls,
    }));

    app.get('/control/faults', () => this.server.faults);
    app.put('/control/faults', async (req, reply) => {
      const next = mergeFaults(this.server.faults, req.body);
      if (typeof next === 'string') {
        return reply.code(400).send({ error: next });
      }
      this.server.faults = next;
      if (next.outage !== 'blackhole') {
        this.server.releaseHeld();
      }

      return next;
    });
    app.delete('/control/faults', () => {
      this.server.faults = defaultFaults();
      this.server.releaseHeld();

      return this.server.faults;
    });

    app.post('/control/reset', () => {
      this.overrides.clear();
      this.calls = { batch: 0, single: 0, profilesServed: 0 };
      this.server.faults = defaultFaults();
      this.server.releaseHeld();

      return { reset: true };
    });
  }
}
