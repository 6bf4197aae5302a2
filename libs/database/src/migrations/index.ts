import { InitialSchema1764777600000 } from './1764777600000-initial-schema';
import { ClearanceWork1764800000000 } from './1764800000000-clearance-work';
import { SliceReporting1765000000000 } from './1765000000000-slice-reporting';
import { SkippedActivations1765100000000 } from './1765100000000-skipped-activations';
import { AuditChain1764900000000 } from './1764900000000-audit-chain';
import { ChainHeadOnce1765200000000 } from './1765200000000-chain-head-once';
import { DenialReasonIndex1765300000000 } from './1765300000000-denial-reason-index';
import { ChainHeadPlan1765400000000 } from './1765400000000-chain-head-plan';

/** Every migration, oldest first. Listed explicitly so that builds and tests load the same set. */
export const MIGRATIONS = [
  InitialSchema1764777600000,
  ClearanceWork1764800000000,
  AuditChain1764900000000,
  SliceReporting1765000000000,
  SkippedActivations1765100000000,
  ChainHeadOnce1765200000000,
  DenialReasonIndex1765300000000,
  ChainHeadPlan1765400000000,
];
