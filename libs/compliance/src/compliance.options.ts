import { HttpProfileSourceOptions } from './http-profile-source.adapter';

/** Options of {@link ComplianceModule}; the app maps `PROFILE_API_URL` and `PROFILE_API_TOKEN` into them. */
export interface ComplianceModuleOptions {
  /**
   * The HTTP profile source. Undefined means none is configured: `ProfileSourcePort` is then provided as null, and a
   * policy that needs profiles fails the start-up check of the decisions module.
   */
  profileSource?: HttpProfileSourceOptions;
}
