/** Statuses kept per target-group customer, one byte each. */
const NO_STATUS = 0;
const APPROVED = 1;
const DENIED = 2;

/** What a campaign is made of; its customers are computed from (campaign, row), never stored. */
export interface CampaignSpec {
  campaignId: string | number;
  size: number;
  promoCodes: string[];
  customerIdPrefix: string;
  duplicateRate: number;
  /** Epoch milliseconds. */
  clearanceRequiredBy: number;
  /** ActionID of the first promo code; each further code gets the next ActionID. */
  firstActionId: number;
}

export interface StatusEntry {
  customerId: string;
  status: boolean;
}

/**
 * One scheduled conditional campaign. Customer n (1..size) is `${prefix}${n}`. Approvals are one byte per
 * customer, so a campaign of a million customers costs a megabyte; IDs outside the pattern go to a map.
 */
export class Campaign {
  readonly key: string;
  readonly totalRows: number;
  approvedCount = 0;
  deniedCount = 0;
  withdrawnCount = 0;
  updateCalls = 0;
  rejectedUpdates = 0;
  entriesReceived = 0;
  unknownCustomerUpdates = 0;
  pagesServed = 0;
  notifications = 0;
  lastUpdateAt: number | undefined;
  lastTimeStamp: string | undefined;
  readonly createdAt = Date.now();
  private readonly statuses: Uint8Array;
  private readonly foreign = new Map<string, boolean>();
  private readonly duplicatePeriod: number;
  private readonly prefixJson: string;
  private readonly promoJson: string[];

  constructor(readonly spec: CampaignSpec) {
    this.key = String(spec.campaignId);
    this.statuses = new Uint8Array(spec.size + 1);
    this.duplicatePeriod = spec.duplicateRate > 0 ? Math.max(1, Math.round(1 / spec.duplicateRate)) : 0;
    this.totalRows = spec.size + (this.duplicatePeriod > 0 ? Math.floor(spec.size / this.duplicatePeriod) : 0);
    this.prefixJson = JSON.stringify(spec.customerIdPrefix).slice(1, -1);
    this.promoJson = spec.promoCodes.map((code) => JSON.stringify(code));
  }

  /**
   * Customer number at a row of the target group. With a duplicate rate, every block of `period` customers is
   * followed by one row repeating an earlier customer, as Optimove's lists may repeat a customer.
   */
  customerAtRow(row: number): number {
    const period = this.duplicatePeriod;
    if (period === 0) {
      return row + 1;
    }
    const block = Math.floor(row / (period + 1));
    const offset = row % (period + 1);
    if (offset < period) {
      return block * period + offset + 1;
    }

    return ((block * 7919) % ((block + 1) * period)) + 1;
  }

  /** A page of GetProcessedCampaignCustomers as JSON text, built directly for speed. */
  pageJson(skip: number, top: number): string {
    const end = Math.min(this.totalRows, skip + top);
    if (skip >= end) {
      return '[]';
    }
    const codes = this.promoJson;
    const first = this.spec.firstActionId;
    const rows: string[] = new Array<string>(end - skip);
    for (let row = skip; row < end; row++) {
      const n = this.customerAtRow(row);
      const index = codes.length > 0 ? (n - 1) % codes.length : 0;
      const promo = codes.length > 0 ? codes[index] : 'null';
      rows[row - skip] = `{"CustomerID":"${this.prefixJson}${n}","ActionID":${first + index},"PromoCode":${promo}}`;
    }
    this.pagesServed++;

    return `[${rows.join(',')}]`;
  }

  /** The customer's number when the ID follows the pattern and is in the target group, else 0. */
  customerNumber(customerId: string): number {
    const prefix = this.spec.customerIdPrefix;
    if (!customerId.startsWith(prefix) || customerId.length === prefix.length) {
      return 0;
    }
    let n = 0;
    for (let i = prefix.length; i < customerId.length; i++) {
      const digit = customerId.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9 || (digit === 0 && i === prefix.length)) {
        return 0;
      }
      n = n * 10 + digit;
      if (n > this.spec.size) {
        return 0;
      }
    }

    return n;
  }

  /** Last write wins per customer; approvals of customers outside the target group are kept apart. */
  applyStatuses(entries: StatusEntry[], timeStamp: string, now: number): void {
    for (const { customerId, status } of entries) {
      const n = this.customerNumber(customerId);
      if (n === 0) {
        this.unknownCustomerUpdates++;
        this.foreign.set(customerId, status);
        continue;
      }
      const before = this.statuses[n];
      const after = status ? APPROVED : DENIED;
      if (before === after) {
        continue;
      }
      if (before === APPROVED) {
        this.approvedCount--;
        this.withdrawnCount++;
      } else if (before === DENIED) {
        this.deniedCount--;
      }
      if (after === APPROVED) {
        this.approvedCount++;
      } else {
        this.deniedCount++;
      }
      this.statuses[n] = after;
    }
    this.updateCalls++;
    this.entriesReceived += entries.length;
    this.lastUpdateAt = now;
    this.lastTimeStamp = timeStamp;
  }

  /** The status last reported for a customer, or undefined when none was. */
  statusOf(customerId: string): boolean | undefined {
    const n = this.customerNumber(customerId);
    if (n === 0) {
      return this.foreign.get(customerId);
    }
    const value = this.statuses[n];

    return value === NO_STATUS ? undefined : value === APPROVED;
  }

  /** IDs of the target-group customers whose last status is true, in customer order. */
  approvedIds(limit = Number.POSITIVE_INFINITY): string[] {
    const ids: string[] = [];
    const prefix = this.spec.customerIdPrefix;
    for (let n = 1; n <= this.spec.size && ids.length < limit; n++) {
      if (this.statuses[n] === APPROVED) {
        ids.push(`${prefix}${n}`);
      }
    }

    return ids;
  }

  get unknownApprovedCount(): number {
    let count = 0;
    for (const status of this.foreign.values()) {
      if (status) {
        count++;
      }
    }

    return count;
  }
}

/** The campaigns the Optimove stand-in knows, keyed by their ID as text. */
export class CampaignStore {
  private readonly campaigns = new Map<string, Campaign>();
  private nextId = 1001;

  create(spec: Omit<CampaignSpec, 'campaignId'> & { campaignId?: string | number }): Campaign {
    let campaignId = spec.campaignId;
    if (campaignId === undefined) {
      while (this.campaigns.has(String(this.nextId))) {
        this.nextId++;
      }
      campaignId = this.nextId++;
    }
    const campaign = new Campaign({ ...spec, campaignId });
    this.campaigns.set(campaign.key, campaign);

    return campaign;
  }

  get(campaignId: unknown): Campaign | undefined {
    if (typeof campaignId !== 'string' && typeof campaignId !== 'number') {
      return undefined;
    }

    return this.campaigns.get(String(campaignId).trim());
  }

  delete(campaignId: string): boolean {
    return this.campaigns.delete(campaignId);
  }

  list(): Campaign[] {
    return [...this.campaigns.values()];
  }

  clear(): void {
    this.campaigns.clear();
    this.nextId = 1001;
  }
}
