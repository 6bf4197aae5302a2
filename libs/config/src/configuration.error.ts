/** Thrown at start-up when the environment is invalid; names every problem at once. */
export class ConfigurationError extends Error {
  readonly code = 'CONFIGURATION_INVALID';

  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'ConfigurationError';
  }
}
