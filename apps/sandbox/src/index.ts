export { startSandbox } from './sandbox.runner';
export type { Sandbox, SandboxOptions } from './sandbox.options';
export { formatZoned, parseZoned, parseOptimoveTime } from './common/zoned-time.util';
export { generateProfile, PROFILE_DISTRIBUTION, BLOCKED_COUNTRIES, MIN_DEPOSIT } from './profile/profile.generator';
export type { Profile, ProfileOutcome } from './profile/profile.generator';
export type { TriggerResult, TriggerFailure } from './optimove/triggered-requests.firer';
