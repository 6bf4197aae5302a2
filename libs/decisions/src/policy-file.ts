import { describeError } from '@app/observability';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_POLICY_DEFINITION, PolicyDefinition, PolicySet } from './policy';

/** One problem of a policy file: which policy (name or position), which field, what is wrong. */
export interface PolicyFileIssue {
  policy: string | null;
  field: string;
  message: string;
}

/** The policy file cannot be read, parsed or validated; the message lists every issue. */
export class PolicyFileError extends Error {
  readonly code = 'POLICY_FILE_INVALID';

  constructor(
    readonly source: string,
    readonly issues: PolicyFileIssue[],
  ) {
    super(
      `invalid policy file ${source}: ` +
        issues
          .map((issue) => `${issue.policy === null ? '' : `policy ${issue.policy}: `}${issue.field}: ${issue.message}`)
          .join('; '),
    );
    this.name = 'PolicyFileError';
  }
}

const id = z.union([z.string().min(1), z.number()]).transform(String);
const idList = z.array(id).default([]);
const country = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'expected an ISO 3166 alpha-2 country code')
  .transform((code) => code.toUpperCase());
const defaults = DEFAULT_POLICY_DEFINITION.compliance;

const matchSchema = z
  .strictObject({
    campaignIds: idList,
    actionIds: idList,
    seriesIds: idList,
    tags: z.array(z.string().min(1)).default([]),
    promoCodes: z.array(z.string().min(1)).default([]),
  })
  .prefault({});

const complianceSchema = z
  .strictObject({
    accountStatuses: z.array(z.string().min(1)).default([...defaults.accountStatuses]),
    minDepositTotal: z.number().nonnegative().nullable().default(defaults.minDepositTotal),
    allowedCountries: z.array(country).default([]),
    blockedCountries: z.array(country).default([]),
    requireKyc: z.boolean().default(defaults.requireKyc),
    denySelfExcluded: z.boolean().default(defaults.denySelfExcluded),
  })
  .prefault({});

const policySchema = z.strictObject({
  name: z.string().min(1),
  match: matchSchema,
  mode: z.enum(['enforce', 'shadow']).default('enforce'),
  compliance: complianceSchema,
  promo: z.enum(['always', 'never', 'whenPromoCode']).default('whenPromoCode'),
  allowVisitors: z.boolean().default(false),
});

const policyFileSchema = z.strictObject({ policies: z.array(policySchema) }).superRefine((file, context) => {
  const seen = new Set<string>();
  file.policies.forEach((policy, index) => {
    if (seen.has(policy.name)) {
      context.addIssue({ code: 'custom', path: ['policies', index, 'name'], message: 'duplicate policy name' });
    }
    seen.add(policy.name);
  });
});

function policyLabel(raw: unknown, index: number): string {
  const name = (raw as { policies?: { name?: unknown }[] } | null)?.policies?.[index]?.name;

  return typeof name === 'string' && name !== '' ? `"${name}" (#${index + 1})` : `#${index + 1}`;
}

/** Validates a parsed policy document; every issue names its policy and field. */
export function parsePolicyDocument(document: unknown, source = 'policies'): PolicyDefinition[] {
  const result = policyFileSchema.safeParse(document);
  if (result.success) {
    return result.data.policies;
  }
  const issues = result.error.issues.map((issue): PolicyFileIssue => {
    const path = issue.path.map(String);
    if (path[0] === 'policies' && path.length >= 2) {
      return {
        policy: policyLabel(document, Number(path[1])),
        field: path.slice(2).join('.') || '(policy)',
        message: issue.message,
      };
    }

    return { policy: null, field: path.join('.') || '(document)', message: issue.message };
  });
  throw new PolicyFileError(source, issues);
}

/** Parses policy text: YAML for `.yaml`/`.yml`, JSON for `.json`, otherwise whichever parses. */
export function parsePolicyText(text: string, source: string): PolicyDefinition[] {
  const extension = extname(source).toLowerCase();
  let document: unknown;
  try {
    if (extension === '.json') {
      document = JSON.parse(text);
    } else {
      // YAML is a superset of JSON, so one parser serves both when the extension says nothing.
      document = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    }
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new PolicyFileError(source, [{ policy: null, field: '(document)', message: `cannot be parsed: ${message}` }]);
  }

  return parsePolicyDocument(document, source);
}

/** Reads, parses and validates `POLICY_FILE`; without a file, the built-in default alone. */
export async function loadPolicies(policyFile?: string): Promise<PolicySet> {
  if (policyFile === undefined) {
    return new PolicySet([]);
  }
  let text: string;
  try {
    text = await readFile(policyFile, 'utf8');
  } catch (error) {
    const message = describeError(error);
    throw new PolicyFileError(policyFile, [{ policy: null, field: '(file)', message: `cannot be read: ${message}` }]);
  }

  return new PolicySet(parsePolicyText(text, policyFile));
}
