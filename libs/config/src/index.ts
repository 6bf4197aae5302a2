export { ConfigurationError } from './configuration.error';
export { parseServiceConfig } from './environment';
export type { AuditApiKey, AuditRole, LogLevel, ServiceConfig } from './service-config';
